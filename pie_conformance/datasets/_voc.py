"""Pascal-VOC annotations exactly as the platform's guide shows them (CONTRACT section 1)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass


@dataclass(frozen=True)
class Box:
    """One annotated object: class name and pixel-edge box coordinates."""

    name: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float


def write_voc(stem: str, width: int, height: int, boxes: list[Box], depth: int = 3) -> bytes:
    """The annotation XML, tag order and layout as the guide prints it (floats like ``124.0``)."""
    lines = [
        "<annotation>",
        "  <folder>VOC</folder>",
        # The guide's example names the annotation file itself here (``100_0.xml``); keep that.
        f"  <filename>{_escape(stem)}.xml</filename>",
        f"  <object_num>{len(boxes)}</object_num>",
        "  <size>",
        f"    <width>{width}</width>",
        f"    <height>{height}</height>",
        f"    <depth>{depth}</depth>",
        "  </size>",
    ]
    for box in boxes:
        lines += [
            "  <object>",
            f"    <name>{_escape(box.name)}</name>",
            "    <difficult></difficult>",
            "    <bndbox>",
            f"      <xmin>{float(box.xmin)!r}</xmin>",
            f"      <xmax>{float(box.xmax)!r}</xmax>",
            f"      <ymin>{float(box.ymin)!r}</ymin>",
            f"      <ymax>{float(box.ymax)!r}</ymax>",
            "    </bndbox>",
            "  </object>",
        ]
    lines.append("</annotation>")
    return ("\n".join(lines) + "\n").encode("utf-8")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def read_voc(data: bytes) -> tuple[tuple[int, int], list[Box]]:
    """Parse an annotation: ((width, height), boxes); raises ValueError saying what is missing."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ValueError(f"not well-formed XML ({exc})") from None
    if root.tag != "annotation":
        raise ValueError(f"expected root element <annotation>, got <{root.tag}>")
    try:
        width = int(float(_text(root, "size/width")))
        height = int(float(_text(root, "size/height")))
    except ValueError as exc:
        raise ValueError(f"bad <size>: {exc}") from None
    boxes = []
    for index, obj in enumerate(root.findall("object"), start=1):
        try:
            coords = {tag: float(_text(obj, f"bndbox/{tag}")) for tag in ("xmin", "ymin", "xmax", "ymax")}
            boxes.append(Box(_text(obj, "name"), **coords))
        except ValueError as exc:
            raise ValueError(f"object {index}: {exc}") from None
    return (width, height), boxes


def _text(node: ET.Element, path: str) -> str:
    found = node.find(path)
    if found is None or found.text is None or not found.text.strip():
        raise ValueError(f"expected <{path}> with a value, got none")
    return found.text.strip()
