"""Stride-2 transposed convolutions as a convolution to 4C channels and DepthToSpace.

ONNX Runtime's CPU provider runs Conv in its blocked NCHWc layout with its
fastest kernels, but has no NCHWc ConvTranspose: in ACNet's decoder the nine
transposed convolutions took 9 % of ONNX Runtime's time. Each output pixel of
a stride-2 transposed convolution belongs to one of four phases (row and
column parity), and each phase is an ordinary convolution of the input, so

    ConvTranspose(x, W, b)  ==  DepthToSpace(Conv(x, W', b'), blocksize=2)

where W' stacks the four phases' kernels as 4C output channels:

- kernel 2, no padding: phase (a, c) of output channel o is the 1x1
  convolution with ``W[:, o, a, c]``;
- kernel 3, padding 1, output padding 1: output row 2i uses input row i with
  kernel row 1; row 2i+1 uses input row i with kernel row 2 and row i+1 with
  kernel row 0. So every phase is a 2x2 convolution over rows (i, i+1) and
  columns (j, j+1) of the input padded by one at the bottom and right, with
  kernel taps ``W[:, o, ky, kx]`` where ky is 1 / - (phase 0) or 2 / 0
  (phase 1) for the window's first / second row, and likewise for columns.

With DepthToSpace's DCR mode, output channel ``(2 a + c) * C + o`` of the
convolution becomes pixel (2 i + a, 2 j + c) of channel o. Both sides add the
same products (the extra taps are exact zeros), in another order: the
rewrite is exact to float rounding. BatchNorm is already folded into the
transposed convolution's weight and bias by the exporter, so the rewrite
sees one node with constant weights.

Measured, it does not pay in ONNX Runtime 1.30 on CPU, so export leaves it
off (``--rewrite-deconv`` turns it on): the DepthToSpace, a 6-D transpose,
costs about as much as the ConvTranspose it replaces (at ACNet-ResNet50
480x640, 4.2 % against 5.9 % of the kernel time; whole runs 0.81x-1.02x,
within the noise of a loaded machine), the kernel-3 phases carry
16 taps where the transposed convolution has 9, and the NCHWc Convs need
reorders back to NCHW before it (benchmarks/results/ has the run).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

#: For kernel 3 (padding 1, output padding 1): the kernel row used by output phase a at window row d (None: no tap).
_TAPS_K3 = {(0, 0): 1, (0, 1): None, (1, 0): 2, (1, 1): 0}


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _pattern(node: onnx.NodeProto, weight: np.ndarray) -> int | None:
    """The kernel size (2 or 3) when ``node`` is a rewritable stride-2 ConvTranspose, else None."""
    a = _attrs(node)
    if weight.ndim != 4 or weight.shape[2] != weight.shape[3] or weight.shape[2] not in (2, 3):
        return None
    k = int(weight.shape[2])
    auto_pad = a.get("auto_pad", b"NOTSET")
    if (list(a.get("strides", [1, 1])) != [2, 2] or a.get("group", 1) != 1 or "output_shape" in a
            or list(a.get("dilations", [1, 1])) != [1, 1] or auto_pad not in (b"NOTSET", "NOTSET")
            or list(a.get("kernel_shape", [k, k])) != [k, k]):
        return None
    pads = list(a.get("pads", [0, 0, 0, 0]))
    output_padding = list(a.get("output_padding", [0, 0]))
    if k == 2 and pads == [0, 0, 0, 0] and output_padding == [0, 0]:
        return 2
    if k == 3 and pads == [1, 1, 1, 1] and output_padding == [1, 1]:
        return 3
    return None


def phase_weights(weight: np.ndarray, bias: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """ConvTranspose weight (Cin, Cout, k, k), k = 2 or 3, -> Conv weight (4 Cout, Cin, k', k') and bias (DCR order)."""
    cin, cout, k, _ = weight.shape
    if k == 2:
        # out channel (2a + c) * Cout + o  <-  W[:, o, a, c]
        conv = weight.transpose(2, 3, 1, 0).reshape(4 * cout, cin)[:, :, None, None]
    else:
        conv = np.zeros((2, 2, cout, cin, 2, 2), weight.dtype)  # (a, c, o, i, dy, dx)
        for (a, dy), ky in _TAPS_K3.items():
            for (c, dx), kx in _TAPS_K3.items():
                if ky is not None and kx is not None:
                    conv[a, c, :, :, dy, dx] = weight[:, :, ky, kx].T
        conv = conv.reshape(4 * cout, cin, 2, 2)
    return np.ascontiguousarray(conv), None if bias is None else np.tile(bias, 4)


def rewrite_transposed_convs(model: onnx.ModelProto) -> int:
    """Replace every stride-2, kernel-2 or kernel-3 ConvTranspose with Conv + DepthToSpace, in place.

    Only nodes with constant weights (initializers), one group, no dilation
    and the two padding patterns above are rewritten; others stay. Returns
    how many were rewritten.
    """
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    nodes, rewritten = [], 0
    for node in graph.node:
        weight = inits.get(node.input[1]) if node.op_type == "ConvTranspose" and len(node.input) > 1 else None
        w = numpy_helper.to_array(weight) if weight is not None else None
        k = _pattern(node, w) if w is not None else None
        if k is None:
            nodes.append(node)
            continue
        has_bias = len(node.input) > 2 and node.input[2] != ""
        if has_bias and node.input[2] not in inits:
            nodes.append(node)
            continue
        bias = numpy_helper.to_array(inits[node.input[2]]) if has_bias else None
        conv_w, conv_b = phase_weights(w, bias)
        stem = (node.name or node.output[0]).replace("/", "_")
        w_name, b_name, mid = f"{stem}_phase_weight", f"{stem}_phase_bias", f"{node.output[0]}_phases"
        graph.initializer.append(numpy_helper.from_array(conv_w, w_name))
        inputs = [node.input[0], w_name]
        if conv_b is not None:
            graph.initializer.append(numpy_helper.from_array(conv_b, b_name))
            inputs.append(b_name)
        pads = [0, 0, 1, 1] if k == 3 else [0, 0, 0, 0]
        conv_k = 2 if k == 3 else 1
        conv = helper.make_node("Conv", inputs, [mid], name=f"{stem}_phases", kernel_shape=[conv_k, conv_k],
                                strides=[1, 1], pads=pads, dilations=[1, 1], group=1)
        d2s = helper.make_node("DepthToSpace", [mid], list(node.output), name=f"{stem}_depth_to_space",
                               blocksize=2, mode="DCR")
        for new in (conv, d2s):  # keep the module scopes: --int8-exclude and the stage table find nodes by them
            new.metadata_props.extend(node.metadata_props)
        nodes.extend((conv, d2s))
        rewritten += 1
    if rewritten:
        del graph.node[:]
        graph.node.extend(nodes)
        used = {name for n in graph.node for name in n.input}
        keep = [i for i in graph.initializer if i.name in used or i.name in {o.name for o in graph.output}]
        del graph.initializer[:]
        graph.initializer.extend(keep)
    return rewritten


__all__ = ["phase_weights", "rewrite_transposed_convs"]
