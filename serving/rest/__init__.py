"""REST adapter: TF Serving JSON codec (row / columnar / examples) and the Starlette app."""
