"""Int8 ONNX graphs that onnxruntime computes exactly on every x86 CPU.

deepear's int8 graph (`deepear.deepx.quantize.export_int8_onnx`) multiplies int8 codes with MatMulInteger.
Bundles exported before November 2026 stored the weights as int8 and the activations as uint8 (code + 128),
which selects onnxruntime's u8 x s8 kernel; on x86 CPUs with AVX2 but without VNNI that kernel adds pairs of
products in int16 with saturation (`vpmaddubsw`), so the int32 results, and the logits, are wrong for many
windows (measured on such a CPU: a freshly exported bundle disagreed with its numpy reference on 48% of windows,
the reference bundle with the exact arithmetic on 12%). Storing the
weights as uint8 (code + 128) with zero point 128 selects the u8 x u8 kernel, which is exact everywhere; the
arithmetic is unchanged ((a - 128)(w + 128 - 128) = a_code * w_code).

`exact_u8u8(model)` rewrites an older graph that way; the runtime applies it when it loads model.int8.onnx, so
old bundles give the right answers without re-exporting. numpy and onnx only.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import onnx

log = logging.getLogger(__name__)

ZERO_POINT = 128
_ZP_NAME = "zero_point_u8_weights"


def exact_u8u8(model: "onnx.ModelProto") -> int:
    """Rewrite, in place, every MatMulInteger of an `onnx.ModelProto` whose weight (input B) is an int8
    initializer into uint8 codes + 128 with a weight zero point of 128 (the same int32 products).

    Returns the number of MatMulInteger nodes rewritten (0: nothing to do). A B input that is int8 but not an
    initializer, or that already has a zero point, is left alone.
    """
    from onnx import TensorProto, numpy_helper

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    rewritten: dict[str, str] = {}
    n = 0
    for node in graph.node:
        if node.op_type != "MatMulInteger" or len(node.input) < 2 or len(node.input) > 3:
            continue
        b = inits.get(node.input[1])
        if b is None or b.data_type != TensorProto.INT8:
            continue
        if b.name not in rewritten:
            codes = numpy_helper.to_array(b).astype(np.int16) + ZERO_POINT
            new = numpy_helper.from_array(codes.astype(np.uint8), b.name + "_u8")
            graph.initializer.append(new)
            rewritten[b.name] = new.name
        if _ZP_NAME not in inits:
            zp = numpy_helper.from_array(np.array(ZERO_POINT, np.uint8), _ZP_NAME)
            graph.initializer.append(zp)
            inits[_ZP_NAME] = zp
        a_zp = node.input[2] if len(node.input) == 3 else ""
        del node.input[1:]
        node.input.extend([rewritten[b.name], a_zp, _ZP_NAME])
        n += 1
    if n:
        _drop_unused_initializers(graph)
        log.debug("int8 graph: %d MatMulInteger weight(s) re-encoded as uint8 + 128 (exact on every CPU)", n)
    return n


def legacy_u8s8(model: "onnx.ModelProto") -> "onnx.ModelProto":
    """A copy of a current int8 graph in the encoding of bundles exported before November 2026 (int8 weight codes,
    no weight zero point): the inverse of `exact_u8u8`, for measuring and testing what old bundles compute."""
    import onnx
    from onnx import numpy_helper

    old = onnx.ModelProto()
    old.CopyFrom(model)
    inits = {i.name: i for i in old.graph.initializer}
    for node in old.graph.node:
        if node.op_type == "MatMulInteger" and len(node.input) == 4:
            w = inits[node.input[1]]
            codes = numpy_helper.to_array(w).astype(np.int16) - numpy_helper.to_array(inits[node.input[3]])
            w.CopyFrom(numpy_helper.from_array(codes.astype(np.int8), w.name))
            del node.input[3:]
    _drop_unused_initializers(old.graph)
    return old


def _drop_unused_initializers(graph: "onnx.GraphProto") -> None:
    used = {i for node in graph.node for i in node.input}
    keep = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)
