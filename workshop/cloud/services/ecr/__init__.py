"""ECR with a registry real clients push to: ``models.py`` (repositories, images,
uploads, per account and region, on moto's backend), ``responses.py`` (the ECR
API's wire format), ``registry.py`` (the OCI Distribution API at ``/v2/``),
``blobs.py`` (content-addressed files under the state dir), ``tokens.py`` (ECR's
authorization tokens). Kept light: the gateway imports the modules it needs."""
