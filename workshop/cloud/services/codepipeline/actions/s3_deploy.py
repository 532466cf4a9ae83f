"""S3 deploy actions: the input artifact's files (Extract true) or the zip
itself (Extract false, at ObjectKey) written to the account's bucket."""

from __future__ import annotations

import io
import zipfile

from workshop.cloud.services.codepipeline.actions.base import (
    ActionContext,
    ActionFailed,
    Handler,
    Result,
    truthy,
    write_object,
)


class S3Deploy(Handler):
    def start(self, ctx: ActionContext) -> Result:
        bucket = ctx.config["BucketName"]
        data = ctx.read_input(ctx.input_names()[0])
        prefix = (ctx.config.get("ObjectKey") or "").strip("/")
        if not truthy(ctx.config.get("Extract")):
            write_object(ctx.account, bucket, prefix, data)
            ctx.run.external_id = f"{bucket}/{prefix}"
            return Result.succeeded(f"Deployed the artifact to s3://{bucket}/{prefix}")
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile:
            raise ActionFailed("The input artifact is not a zip file: use Extract false") from None
        count = 0
        with archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                key = f"{prefix}/{info.filename}" if prefix else info.filename
                write_object(ctx.account, bucket, key, archive.read(info))
                count += 1
        ctx.run.external_id = f"{bucket}/{prefix}" if prefix else bucket
        return Result.succeeded(f"Deployed {count} file(s) to s3://{bucket}/{prefix}")
