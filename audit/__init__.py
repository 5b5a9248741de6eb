"""brain-audit: does a brain-MRI classifier look at anatomy or at artifacts?"""

__version__ = "0.4.1"
