"""Browser demo: a static page running the TF.js bundles next to TF Serving's REST API (`make demo`)."""
