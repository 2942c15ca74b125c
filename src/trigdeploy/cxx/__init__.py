"""C++ machinery shared by the stages: the headers generated projects compile against, and the
batched g++ build + ctypes runner of a project (``harness``) with trigdeploy's fast ``ap_`` headers."""
