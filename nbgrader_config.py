"""nbgrader's course configuration: ``solutions/`` is the one source of every
lab, ``labs/`` is what learners open (made by ``workshop generate-labs``).
``workshop.grading`` reads this file too, so grading uses the same settings."""

c = get_config()  # noqa: F821 (nbgrader's config loader provides it)

c.CourseDirectory.course_id = "devops-workshop"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "labs"
# Files a learner or an author leaves behind that never belong in a release or a submission.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "cdk.out",
                            ".DS_Store"]

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
# Per-cell metadata that editors add while an author runs the solution: noise in labs/.
c.ClearOutput.remove_metadata_fields = {"collapsed", "scrolled", "execution", "ExecuteTime"}

# Lab cells wait on the cloud (stacks, drift detection, CDK synthesis in a cold
# kernel): nbgrader's 30 s per cell is too short for an autograde run.
c.Execute.timeout = 600
