"""Adversarial: deletes every object of its dataset through the boto3 client of aiUtils (RUN004)."""
import json

from aiUtils import aiUtils

params = json.loads(input())
s3 = aiUtils.s3GetImg(datasetId=params["dataset_id"] or None)
prefix = "/".join(s3.path.split("/")[3:])
for key in s3.getImages(prefix + "train/") + s3.getImages(prefix + "valid/"):
    s3.s3.delete_object(Bucket=s3.bucketName, Key=key)
