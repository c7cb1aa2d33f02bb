"""Running a pipeline: scheduling, artifacts, credentials and sandboxes."""
