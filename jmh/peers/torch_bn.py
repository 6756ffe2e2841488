"""PyTorch side of `jmh/bench peers`: a worker that times ATen's CPU batch norm (and, for `--norms`, layer,
RMS and group norm) on the tensors the driver (dev.vecnorm.bench.Peers) asks for. Run it with Debian's
/usr/bin/python3 and python3-torch.

Line protocol on stdin/stdout, one reply line per command (the same as onednn_bn.cpp):
  shape LAYOUT:DIMS                        allocate and fill the tensors once        -> "ok"
  run OP PLACE THREADS WARM_MS MEASURE_MS  time one case                             -> "result NS CHECKSUM DETAIL"

NHWC tensors are channels_last NCHW views of N x H x W x C memory; NC tensors are 2-D. The batch-norm calls are
aten.native_batch_norm (training, or inference with running statistics) and native_batch_norm_backward.
Each is tried in its allocating form and its `out=` form writing into tensors allocated once; a short
probe keeps the faster. In place means out = x (forward only). The `--norms` ops are FAMILY.OP
(see prepare_norm): native_layer_norm / F.layer_norm / native_layer_norm_backward, an RMS expression
and its autograd backward, native_group_norm / native_group_norm_backward; out of place only.
"""
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

EPSILON = 1e-3
aten = torch.ops.aten


def hash_unit(i):
    """The shared deterministic data (see onednn_bn.cpp): uint32 hash of the memory index, in [0, 1)."""
    h = i * np.uint32(0x9E3779B1)
    h ^= h >> np.uint32(15)
    h *= np.uint32(0x85EBCA77)
    h ^= h >> np.uint32(13)
    return (h >> np.uint32(8)).astype(np.float32) * np.float32(2.0 ** -24)


class Tensors:
    def __init__(self, label):
        layout, dims = label.split(":")
        d = [int(v) for v in dims.split("x")]
        self.layout = layout
        if layout == "NC":
            n, c = d
            shape = (n, c)
        elif layout in ("NHWC", "NCHW"):
            n, h, w, c = d
            shape = (n, h, w, c) if layout == "NHWC" else (n, c, h, w)
        else:
            raise ValueError("bad layout " + layout)
        size = int(np.prod(shape))
        i = np.arange(size, dtype=np.uint32)
        x = hash_unit(i) * np.float32(4) - np.float32(1)
        dy = hash_unit(i ^ np.uint32(0x5BD1E995)) * np.float32(2) - np.float32(1)

        def view(a):
            # Copied into memory PyTorch allocates (64-byte aligned): a large NumPy array sits 16 bytes
            # past a page, and every AVX-512 load from it would straddle two cache lines.
            t = torch.empty(shape)
            t.copy_(torch.from_numpy(a.reshape(shape)))
            return t.permute(0, 3, 1, 2) if layout == "NHWC" else t  # channels_last NCHW view

        self.x, self.dy = view(x), view(dy)
        self.y, self.dx = torch.empty_like(self.x), torch.empty_like(self.x)  # empty_like keeps channels_last
        k = np.arange(c, dtype=np.int64)
        gamma = np.float32(1) + np.float32(0.01) * (k % 7).astype(np.float32)
        beta = np.float32(0.1) * (k % 5).astype(np.float32)
        self.gamma, self.beta = torch.from_numpy(gamma), torch.from_numpy(beta)
        # Inference statistics that make y = x up to rounding, so repeated in-place calls neither blow up
        # nor sink into denormals: mean = beta, variance = gamma^2 - epsilon.
        self.mmean = torch.from_numpy(beta.copy())
        self.mvar = torch.from_numpy(gamma * gamma - np.float32(EPSILON))
        self.mean, self.invstd = torch.empty(c), torch.empty(c)
        self.dgamma, self.dbeta = torch.empty(c), torch.empty(c)


T = None


def sum_abs(t):
    return torch.sum(torch.abs(t), dtype=torch.float64).item()


def total(t):
    return torch.sum(t, dtype=torch.float64).item()


class Unsupported(Exception):
    pass


def prepare_norm(family, op):
    """(call, checksum) for `--norms`: FAMILY.OP with FAMILY layerNorm (rows of an NC tensor), rmsNorm, or
    groupNormG (G groups of an NCHW tensor, or of its channels_last view for NHWC). The checksums are the
    batch-norm ones with per-row or per-group statistics: training forward sum|y| + sum(mean), inference
    forward (and RMS forward) sum|y|, backward sum|dx| + sum(dgamma) + sum(dbeta)."""
    t = T
    c = t.gamma.numel()
    mask = [True, True, True]
    if family == "layerNorm":
        if op == "trainingForward":  # what autograd runs and saves for the backward
            def call():
                t.y, t.mean, t.invstd = aten.native_layer_norm(t.x, [c], t.gamma, t.beta, EPSILON)
            return call, lambda: sum_abs(t.y) + total(t.mean)
        if op == "inferenceForward":
            def call():
                t.y = F.layer_norm(t.x, (c,), t.gamma, t.beta, EPSILON)
            return call, lambda: sum_abs(t.y)
        if op == "backward":
            _, mean, rstd = aten.native_layer_norm(t.x, [c], t.gamma, t.beta, EPSILON)

            def call():
                t.dx, t.dgamma, t.dbeta = aten.native_layer_norm_backward(t.dy, t.x, [c], mean, rstd, t.gamma, t.beta, mask)
            return call, lambda: sum_abs(t.dx) + total(t.dgamma) + total(t.dbeta)
    if family == "rmsNorm":
        # PyTorch 1.13 has no rms_norm: the expression a model writes (torch.nn.RMSNorm arrived in 2.4).
        def expression(x, w):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPSILON) * w
        if op == "forward":
            def call():
                with torch.no_grad():
                    t.y = expression(t.x, t.gamma)
            return call, lambda: sum_abs(t.y)
        if op == "backward":
            # Autograd's backward through the expression's saved graph (retained so it can run again).
            x = t.x.detach().requires_grad_()
            w = t.gamma.detach().requires_grad_()
            y = expression(x, w)

            def call():
                t.dx, t.dgamma = torch.autograd.grad(y, (x, w), t.dy, retain_graph=True)
            return call, lambda: sum_abs(t.dx) + total(t.dgamma)
    if family.startswith("groupNorm"):
        g = int(family[len("groupNorm"):])
        n, hw = t.x.shape[0], t.x.numel() // (t.x.shape[0] * c)
        if op == "trainingForward":
            def call():
                t.y, t.mean, t.invstd = aten.native_group_norm(t.x, t.gamma, t.beta, n, c, hw, g, EPSILON)
            return call, lambda: sum_abs(t.y) + total(t.mean)
        if op == "backward":
            _, mean, rstd = aten.native_group_norm(t.x, t.gamma, t.beta, n, c, hw, g, EPSILON)
            # 1.13's native_group_norm_backward reads channels_last tensors as if contiguous (wrong dx,
            # dgamma, dbeta); autograd gets it right by passing contiguous copies, so NHWC pays for them here too.
            fix = (lambda a: a.contiguous()) if t.layout == "NHWC" else (lambda a: a)

            def call():
                t.dx, t.dgamma, t.dbeta = aten.native_group_norm_backward(fix(t.dy), fix(t.x), mean, rstd, t.gamma, n, c, hw, g, mask)
            return call, lambda: sum_abs(t.dx) + total(t.dgamma) + total(t.dbeta)
    raise ValueError("bad op %s.%s" % (family, op))


def prepare(op, in_place, form):
    """(call, checksum) for one case in one form ('default' allocates its outputs, 'out' does not)."""
    t = T
    if "." in op:
        if in_place:
            raise Unsupported("the --norms cases run out of place only")
        return prepare_norm(*op.split(".", 1))
    if in_place:
        raise Unsupported("PyTorch 1.13 has no in-place batch norm (no CPU kernel for native_batch_norm.out)")
    if op in ("trainingForward", "inferenceForward"):
        training = op == "trainingForward"
        rm, rv = (None, None) if training else (t.mmean, t.mvar)

        def call():
            t.y, t.mean, _ = aten.native_batch_norm(t.x, t.gamma, t.beta, rm, rv, training, 0.1, EPSILON)

        if training:
            def checksum():
                return sum_abs(t.y) + total(t.mean)
        else:
            def checksum():
                return sum_abs(t.y)
        return call, checksum
    if op == "backward":
        if in_place:
            raise ValueError("backward runs out of place only")
        # The statistics backward needs come from a real training forward, as in training.
        t.y, t.mean, t.invstd = aten.native_batch_norm(t.x, t.gamma, t.beta, None, None, True, 0.1, EPSILON)
        mask = [True, True, True]
        if form == "out":
            def call():
                aten.native_batch_norm_backward.out(t.dy, t.x, t.gamma, None, None, t.mean, t.invstd, True, EPSILON,
                                                    mask, out0=t.dx, out1=t.dgamma, out2=t.dbeta)
        else:
            def call():
                t.dx, t.dgamma, t.dbeta = aten.native_batch_norm_backward(t.dy, t.x, t.gamma, None, None, t.mean,
                                                                          t.invstd, True, EPSILON, mask)

        def checksum():
            return sum_abs(t.dx) + total(t.dgamma) + total(t.dbeta)
        return call, checksum
    raise ValueError("bad op " + op)


def median_ns(call, warm_ms, measure_ms):
    """Warm up for warm_ms (at least 3 calls), then batches of at least 20 µs until measure_ms has
    passed (at least 7 batches); the median of the per-call times of the batches."""
    now = time.perf_counter_ns
    start = now()
    calls = 0
    while True:
        call()
        calls += 1
        t = now()
        if calls >= 3 and t - start >= warm_ms * 1e6:
            break
    per_call = (t - start) / calls
    batch = max(1, int(np.ceil(20000.0 / per_call)))
    samples = []
    begin = now()
    while len(samples) < 7 or now() - begin < measure_ms * 1e6:
        s = now()
        for _ in range(batch):
            call()
        samples.append((now() - s) / batch)
    return float(np.median(samples))


chosen = {}


def run(op, in_place, threads, warm_ms, measure_ms):
    torch.set_num_threads(threads)
    key = (op, in_place, threads)
    forms = ["default", "out"] if op == "backward" else ["default"]  # norms' "FAMILY.backward": default only
    if key not in chosen:
        best = None
        for form in forms:
            call, _ = prepare(op, in_place, form)
            try:
                call()
            except RuntimeError:  # NotImplementedError included: no CPU kernel for this form
                continue
            for _ in range(3):  # the fastest of three calls: what a burst of noise is least likely to inflate
                s = time.perf_counter_ns()
                call()
                t = time.perf_counter_ns() - s
                if best is None or t < best[0]:
                    best = (t, form)
        chosen[key] = best[1]
    form = chosen[key]
    call, checksum = prepare(op, in_place, form)
    call()
    c = checksum()  # after exactly one call on fresh data, as in the other workers
    ns = median_ns(call, warm_ms, measure_ms)
    return "result %.1f %.9g %s" % (ns, c, form)


def main():
    global T
    print("ready PyTorch %s" % torch.__version__, flush=True)
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        try:
            if parts[0] == "shape":
                T = None
                T = Tensors(parts[1])
                chosen.clear()
                reply = "ok"
            elif parts[0] == "run":
                op, place, threads, warm_ms, measure_ms = parts[1:6]
                reply = run(op, place == "in", int(threads), float(warm_ms), float(measure_ms))
            elif parts[0] == "quit":
                return
            else:
                reply = "error unknown command " + parts[0]
        except Unsupported as e:  # the driver shows the case as not offered
            reply = "unsupported " + str(e)
        except Exception as e:  # the driver prints it and records the case as failed
            reply = "error %s: %s" % (type(e).__name__, str(e).replace("\n", " ")[:300])
        print(reply, flush=True)


if __name__ == "__main__":
    main()
