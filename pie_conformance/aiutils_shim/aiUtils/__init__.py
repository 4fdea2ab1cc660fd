"""A compatible ``aiUtils`` for running PIE-Engine AI scripts off the platform (from pie-conformance).

``from aiUtils import aiUtils`` then ``aiUtils.s3GetImg(datasetId)``, as on the platform.
"""
