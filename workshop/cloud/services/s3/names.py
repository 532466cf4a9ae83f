"""Bucket names are global (as in AWS): moto keeps who owns each in one table
beside its backends, which a restored account's buckets must claim again."""

from __future__ import annotations

from workshop.cloud import persistence, services


@services.on(persistence.RESTORED)
def _claim_bucket_names(account_id: str) -> None:
    from moto.s3.models import s3_backends

    for backend in persistence.backends(s3_backends, account_id):
        for name in list(backend.buckets):
            s3_backends.bucket_accounts[name] = (backend.partition, account_id)
