"""SavedModel -> TFLite / TF.js conversion with parity checks (`tfkit convert`, part of `make export`)."""
