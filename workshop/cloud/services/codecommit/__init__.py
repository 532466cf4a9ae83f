"""CodeCommit backed by real git repositories: ``models.py`` (state and rules),
``responses.py`` (wire format), ``git_http.py`` (git smart HTTP at the clone
URLs), ``cloudformation.py`` (AWS::CodeCommit::Repository), ``git_ops.py`` (git
plumbing). Kept light: the gateway imports the modules it needs by name."""
