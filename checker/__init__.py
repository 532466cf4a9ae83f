"""The checker: each lab registers checks (id, title, points, hints, docs
link, and a function over one read of the learner's account); results are
data with three views (the ``workshop check`` table, the "Check my work"
panel, nbgrader's autograded cells). It reaches the cloud only through
boto3, read-only, so it runs unchanged against LocalStack or real AWS."""
