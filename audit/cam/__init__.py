"""CAM methods: the registry (:mod:`audit.cam.methods`, no TensorFlow), the compiled engine
(:mod:`audit.cam.core`), maps by method name and panels (:mod:`audit.cam.maps`), the lead method
(:mod:`audit.cam.lead`), map geometry (:mod:`audit.cam.geometry`) and one module per method."""
