"""The parameter keys the platform sends, and the platform key a script's own name most likely means.

Shared by the SRC002 rule (a key read in the sources) and the crash hints (a ``KeyError`` at run time).
"""

from __future__ import annotations

import difflib
import re

from pie_conformance.traincfg import REQUIRED_KEYS

__all__ = ["PLATFORM_KEYS", "key_hint", "platform_key_for"]

#: Every key of traincfg.json (and of the JSON line on stdin), in CONTRACT order.
PLATFORM_KEYS: tuple[str, ...] = tuple(REQUIRED_KEYS)

# Names scripts written for other setups use (yolov5's opt/data yaml, mmseg, plain argparse), normalised
# as _norm() does, mapped to the platform key that carries the same value.
_ALIASES: dict[str, str] = {
    **dict.fromkeys(
        (
            "nc",
            "numclasses",
            "numclass",
            "nclasses",
            "nclass",
            "classnum",
            "classesnum",
            "numcls",
            "ncls",
            "clsnum",
            "numberofclasses",
            "classcount",
            "nb_classes",
            "nbclasses",
            "outchannels",
            "numlabels",
        ),
        "n_class",
    ),
    **dict.fromkeys(
        ("lr", "lr0", "learningrate", "baselr", "initlr", "initiallr", "learnrate"),
        "learning_rate",
    ),
    **dict.fromkeys(
        (
            "epoch",
            "numepochs",
            "nepochs",
            "numepoch",
            "maxepoch",
            "maxepochs",
            "totalepochs",
            "epoches",
            "trainepochs",
            "nepoch",
            "epochnum",
            "totalepoch",
        ),
        "epochs",
    ),
    **dict.fromkeys(
        ("batch", "bs", "batchsize", "trainbatchsize", "batchsz", "minibatch", "imgsperbatch"),
        "batch_size",
    ),
    **dict.fromkeys(
        (
            "imgsize",
            "imgsz",
            "imagesize",
            "inputsize",
            "size",
            "inputshape",
            "imgshape",
            "cropsize",
            "resize",
            "inputsz",
            "loadsize",
            "patchsize",
            "tilesize",
            "width",
            "height",
            "imgw",
            "imgh",
        ),
        "load_size",
    ),
    **dict.fromkeys(
        (
            "resume",
            "weights",
            "weight",
            "pretrained",
            "pretrain",
            "checkpoint",
            "ckpt",
            "resumefrom",
            "pretrainedpath",
            "pretrainedweights",
            "weightpath",
            "weightspath",
            "modelpath",
            "initweights",
            "loadfrom",
            "pretrainedmodel",
            "resumepath",
            "weightfile",
            "modelfile",
            "weightsfile",
        ),
        "resume_path",
    ),
    **dict.fromkeys(
        (
            "gpus",
            "gpu",
            "ngpu",
            "numgpus",
            "numgpu",
            "gpuids",
            "gpuid",
            "device",
            "devices",
            "cuda",
            "gpucount",
            "ngpus",
            "deviceids",
        ),
        "gpu_num",
    ),
    **dict.fromkeys(
        (
            "model",
            "arch",
            "network",
            "net",
            "modeltype",
            "architecture",
            "netname",
            "networkname",
            "modelname",
            "backbone",
        ),
        "model_name",
    ),
    **dict.fromkeys(
        (
            "names",
            "classes",
            "classnames",
            "class",
            "categories",
            "labels",
            "classlist",
            "labelnames",
            "clsnames",
            "catnames",
        ),
        "class_name",
    ),
    **dict.fromkeys(("labelinfo", "palette", "colors", "colormap", "classcolors"), "label"),
    **dict.fromkeys(
        ("data", "dataset", "datasetname", "datasetid", "dataid"),
        "dataset_id",
    ),
    **dict.fromkeys(
        ("id", "taskid", "trainid", "jobid", "runid", "trainingid", "experimentid", "expid"),
        "training_id",
    ),
    **dict.fromkeys(
        ("earlystop", "earlystopping", "patience", "autostop", "autotermination", "stopearly"),
        "auto_termination",
    ),
}

# Keys that name where the data is: the platform sends no path, only the dataset's id.
_DATA_PATHS = frozenset(
    (
        "datasetpath",
        "datapath",
        "dataroot",
        "datadir",
        "datasetdir",
        "datasetroot",
        "root",
        "rootdir",
        "trainpath",
        "valpath",
        "validpath",
        "traindir",
        "valdir",
        "imgdir",
        "imagedir",
        "trainimages",
        "trainset",
        "valset",
        "datafolder",
        "inputimgpath",
        "inputpath",
        "imagepath",
        "inputdata",
        "inputdir",
        "data_root",
    )
)
# Keys that name where the results go: the platform fixes that folder, output/ next to train.py.
_OUTPUT_PATHS = frozenset(
    (
        "output",
        "outputdir",
        "outputpath",
        "savedir",
        "savepath",
        "outdir",
        "workdir",
        "logdir",
        "project",
        "savefolder",
        "resultpath",
        "resultdir",
        "exportdir",
        "runsdir",
        "outputfolder",
    )
)


def _norm(name: str) -> str:
    return re.sub(r"[\W_]+", "", name).lower()


_BY_NORM = {_norm(k): k for k in PLATFORM_KEYS}


def platform_key_for(name: str) -> str | None:
    """The platform key that ``name`` most likely stands for (None when no key fits)."""
    n = _norm(name)
    if not n:
        return None
    if n in _BY_NORM:
        return _BY_NORM[n]
    if n in _ALIASES:
        return _ALIASES[n]
    close = difflib.get_close_matches(n, list(_BY_NORM), n=1, cutoff=0.85)
    return _BY_NORM[close[0]] if close else None


def key_hint(name: str) -> str:
    """How to get what ``name`` holds on the platform: its key, or where the value comes from instead."""
    n = _norm(name)
    keys = ", ".join(PLATFORM_KEYS)
    if n in _DATA_PATHS:
        return (
            f"the platform sends no {name!r} and no local data: get the dataset's location from "
            "aiUtils.s3GetImg(params['dataset_id']).path and read images with getImages/getImgXmlArray"
        )
    if n in _OUTPUT_PATHS:
        return (
            f"the platform sends no {name!r}: results go to output/ in the working directory "
            "(output/files/<model_name>.th, output/picture/, output/trainlog.json)"
        )
    key = platform_key_for(name)
    if key == name:
        return f"{name!r} is a platform key: read it from the parameters the platform sends"
    if key is not None:
        extra = ""
        if key == "n_class":
            extra = " (a string; it counts the classes without background)"
        elif key == "load_size":
            extra = ' (a string "W,H")'
        elif key == "resume_path":
            extra = ' (an s3:// folder or ""; the weights are <resume_path><model_name>.th)'
        elif key == "gpu_num":
            extra = " (0 means CPU only)"
        elif key == "class_name":
            extra = " (a comma-separated string)"
        return f"the platform sends this value as {key!r}{extra}; its keys are: {keys}"
    return f"the platform sends only these keys: {keys}"
