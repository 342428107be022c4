"""Train-step time of a rastrum-train architecture in PyTorch eager, the reference for
bench/train_step.rs (`make bench-train`).

The network is rebuilt from the JSON of `rastrum_train::describe::to_json`: an nn.Module whose
forward walks the node list with torch.nn.functional ops, exactly as train/src/torch.rs does
(conv2d, conv_transpose2d, batch_norm with batch statistics in training mode, ...); trainable
parameters are nn.Parameter, batch-norm running statistics buffers. Weights come from the tch
net's safetensors checkpoint (`--weights`, read without numpy or the safetensors package), or
are drawn as tch draws them. One step: forward in training mode, cross-entropy (mean), Adam
(torch.optim.Adam, defaults but the learning rate) with zero_grad / backward / step, and the
loss read back, as rastrum-train's fit loop.

Alone it prints one JSON object. With --serve (how the Rust bench drives it) it prints a JSON
line once ready (parameter counts, the forward check, warm-up done), then times --steps steps
for each line read on stdin and prints a JSON line each time, until stdin closes.
"""

import argparse
import json
import math
import struct
import sys
import time
import warnings

# The training venv has no numpy; torch only warns about it.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402


def read_safetensors(path):
    """{name: tensor} of a safetensors file (float32, int64), without numpy."""
    dtypes = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64, "I32": torch.int32}
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        shape = info["shape"]
        if end == start:
            out[name] = torch.zeros(shape, dtype=dtypes[info["dtype"]])
            continue
        buf = bytearray(data[base + start : base + end])
        out[name] = torch.frombuffer(buf, dtype=dtypes[info["dtype"]]).reshape(shape)
    return out


class GraphNet(nn.Module):
    """A rastrum-train `Net` (describe.rs JSON) as a PyTorch module."""

    def __init__(self, graph):
        super().__init__()
        self.graph = graph
        self.nodes = graph["nodes"]
        self.output = graph["output"]
        # Parameter names carry dots ("conv1.weight"), which nn.Module refuses: a flat name per
        # parameter, the graph's name kept in `names`.
        self.names = {}
        for i, p in enumerate(graph["params"]):
            key = "p%d" % i
            self.names[p["name"]] = key
            t = torch.empty(p["shape"], dtype=torch.float32)
            if p["trainable"]:
                self.register_parameter(key, nn.Parameter(t))
            else:
                self.register_buffer(key, t)
        self.reset(graph["params"])

    @torch.no_grad()
    def reset(self, params):
        """As tch draws them: Kaiming-uniform (fan-in = dim 1 x kernel, ReLU gain), 0, 1."""
        for p in params:
            t = self.p(p["name"])
            if p["init"] == "kaiming":
                fan_in = math.prod(p["shape"][1:])
                bound = math.sqrt(2.0) * math.sqrt(3.0 / fan_in)
                t.uniform_(-bound, bound)
            elif p["init"] == "zeros":
                t.zero_()
            else:
                t.fill_(1.0)

    def p(self, name):
        return getattr(self, self.names[name])

    @torch.no_grad()
    def load(self, tensors):
        """Copies a tch checkpoint (names of the graph) into the module; all must be there."""
        for name, key in self.names.items():
            src = tensors[name]
            dst = getattr(self, key)
            if tuple(src.shape) != tuple(dst.shape):
                raise ValueError("%s: shape %s, checkpoint %s" % (name, tuple(dst.shape), tuple(src.shape)))
            dst.copy_(src)

    def forward(self, x):
        train = self.training
        values = [x]
        p = self.p
        for n in self.nodes:
            op = n["op"]
            if op == "conv":
                b = p(n["b"]) if n["b"] is not None else None
                s, pad = n["stride"], n["pad"]
                y = F.conv2d(values[n["x"]], p(n["w"]), b, (s, s), (pad, pad), (1, 1), n["groups"])
            elif op == "conv_transpose":
                b = p(n["b"]) if n["b"] is not None else None
                s = n["stride"]
                y = F.conv_transpose2d(values[n["x"]], p(n["w"]), b, (s, s), (0, 0), (0, 0), 1, (1, 1))
            elif op == "batch_norm":
                q = n["p"]
                y = F.batch_norm(
                    values[n["x"]],
                    p(q + ".running_mean"),
                    p(q + ".running_var"),
                    p(q + ".weight"),
                    p(q + ".bias"),
                    train,
                    n["momentum"],
                    n["eps"],
                )
            elif op == "relu":
                y = F.relu(values[n["x"]])
            elif op == "tanh":
                y = torch.tanh(values[n["x"]])
            elif op == "max_pool":
                k = n["k"]
                y = F.max_pool2d(values[n["x"]], (k, k), (k, k), (0, 0), (1, 1), False)
            elif op == "global_avg_pool":
                y = F.adaptive_avg_pool2d(values[n["x"]], (1, 1))
            elif op == "flatten":
                y = torch.flatten(values[n["x"]], 1, -1)
            elif op == "linear":
                y = F.linear(values[n["x"]], p(n["w"]), p(n["b"]))
            elif op == "dropout":
                y = F.dropout(values[n["x"]], n["p"], train)
            elif op == "add":
                y = values[n["a"]] + values[n["b"]]
            elif op == "concat":
                y = torch.cat([values[i] for i in n["xs"]], 1)
            elif op == "pixel_shuffle":
                y = F.pixel_shuffle(values[n["x"]], n["r"])
            else:
                raise ValueError("unknown op %r" % op)
            values.append(y)
        return values[self.output]


def counts(net):
    trainable = sum(t.numel() for t in net.parameters())
    buffers = sum(t.numel() for t in net.buffers())
    return trainable, buffers


def check(net, path):
    """Forward (training mode, batch statistics) on the tch net's input, against its output."""
    t = read_safetensors(path)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    net.train()
    with torch.no_grad():
        y = net(t["x"])
    # The check's batch statistics must not leak into the timed run's running statistics.
    net.load_state_dict(state)
    ref = t["y"]
    if tuple(y.shape) != tuple(ref.shape):
        return {"shape": list(y.shape), "ref_shape": list(ref.shape), "max_abs_diff": float("inf")}
    diff = (y - ref).abs().max().item()
    return {"shape": list(y.shape), "max_abs_diff": diff, "ref_max_abs": ref.abs().max().item()}


class Trainer:
    def __init__(self, net, args):
        self.net = net
        self.args = args
        c = net.graph["in_channels"]
        s = args.size
        self.x = torch.randn(args.batch, c, s, s)
        if args.per_pixel:
            self.y = torch.randint(0, args.classes, (args.batch, s, s), dtype=torch.int64)
        else:
            self.y = torch.randint(0, args.classes, (args.batch,), dtype=torch.int64)
        self.opt = torch.optim.Adam(net.parameters(), lr=args.lr)
        net.train()

    def step(self):
        out = self.net(self.x)
        loss = F.cross_entropy(out, self.y, reduction="mean")
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return loss.item()

    def run(self, steps):
        times = []
        loss = float("nan")
        for _ in range(steps):
            t0 = time.perf_counter()
            loss = self.step()
            times.append(time.perf_counter() - t0)
        return {"seconds_per_step": times, "loss": loss}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--graph", required=True, help="JSON of rastrum_train::describe::to_json")
    ap.add_argument("--weights", help="safetensors checkpoint of the tch net (else tch-like init)")
    ap.add_argument("--check", help="safetensors with x and the tch net's training-mode output y")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--classes", type=int, required=True)
    ap.add_argument("--per-pixel", action="store_true", help="labels [N, H, W] (segmentation)")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--reps", type=int, default=1, help="timed runs when not serving")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--serve", action="store_true", help="time --steps steps per line read on stdin")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    with open(args.graph) as f:
        graph = json.load(f)
    net = GraphNet(graph)
    if args.weights:
        net.load(read_safetensors(args.weights))
    trainable, buffers = counts(net)
    head = {
        "framework": "pytorch %s eager" % torch.__version__,
        "name": graph["name"],
        "threads": torch.get_num_threads(),
        "trainable_params": trainable,
        "buffer_values": buffers,
    }
    if args.check:
        head["check"] = check(net, args.check)
    trainer = Trainer(net, args)
    t0 = time.perf_counter()
    trainer.run(args.warmup)
    head["warmup_seconds"] = time.perf_counter() - t0

    if args.serve:
        print(json.dumps(head), flush=True)
        for line in sys.stdin:
            if not line.strip():
                continue
            print(json.dumps(trainer.run(args.steps)), flush=True)
        return
    runs = [trainer.run(args.steps) for _ in range(args.reps)]
    times = sorted(t for r in runs for t in r["seconds_per_step"])
    head["seconds_per_step"] = [t for r in runs for t in r["seconds_per_step"]]
    head["median_seconds_per_step"] = times[len(times) // 2]
    head["loss"] = runs[-1]["loss"]
    print(json.dumps(head))


if __name__ == "__main__":
    main()
