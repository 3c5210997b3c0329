"""nanoGPT's training step under `torch.profiler`, by the op classes of tools/profile_train.py.

    ~/.cache/zoo-peers/torch-venv/bin/python tools/profile_nanogpt.py            # README CPU run
    ~/.cache/zoo-peers/torch-venv/bin/python tools/profile_nanogpt.py --config=char --steps=3

Runs with PyTorch (the venv ../shared/bench/nanogpt_side_by_side.sh makes), not with the zoo:
it imports nanoGPT's own model.py from ../shared/peers/nanogpt, builds the model and AdamW as
its train.py does for the config (`cpu`: 4 layers x 4 heads x 128, block 64, batch 12, dropout
0; `char`: config/train_shakespeare_char.py, 6 x 6 x 384, block 256, batch 64, dropout 0.2),
and steps it on random character ids (the data does not change the time). After --warmup
steps, --steps are profiled; each op's self CPU time is summed by class, per step.
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
import time
from pathlib import Path

PEER = Path(__file__).resolve().parents[2] / "shared" / "peers" / "nanogpt"
CONFIGS = {
    "cpu": dict(n_layer=4, n_head=4, n_embd=128, block_size=64, batch=12, dropout=0.0),
    "char": dict(n_layer=6, n_head=6, n_embd=384, block_size=256, batch=64, dropout=0.2),
}
CLASSES = [  # (class, pattern over the aten op's name), first match wins
    ("optimizer update", r"Optimizer|adam|_foreach|lerp|addcdiv|addcmul"),
    ("loss", r"cross_entropy|nll_loss|log_softmax"),
    ("attention softmax/mask", r"softmax|masked_fill|scaled_dot_product|_flash_attention"),
    ("layer norm", r"layer_norm"),
    ("GELU", r"gelu"),
    ("embedding gather/scatter", r"embedding|index_select|index_add|scatter"),
    ("matmul", r"aten::(mm|addmm|bmm|matmul|linear|baddbmm)\b"),
    ("elementwise/other", r"."),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", choices=CONFIGS, default="cpu")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    import torch
    from torch.profiler import ProfilerActivity, profile

    sys.path.insert(0, str(PEER))
    from model import GPT, GPTConfig  # nanoGPT's own file, unmodified

    shape = CONFIGS[args.config]
    batch = shape.pop("batch")
    model = GPT(GPTConfig(vocab_size=65, bias=False, **shape))
    optimizer = model.configure_optimizers(0.1, 1e-3, (0.9, 0.99), "cpu")
    data = torch.randint(0, 65, (batch, shape["block_size"] + 1))
    x, y = data[:, :-1].contiguous(), data[:, 1:].contiguous()

    def step() -> None:
        _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(args.warmup):
        step()
    began = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as trace:
        for _ in range(args.steps):
            step()
    wall = (time.perf_counter() - began) * 1000 / args.steps
    classes: collections.Counter = collections.Counter()
    for event in trace.key_averages():
        label = next(name for name, pattern in CLASSES if re.search(pattern, event.key))
        classes[label] += event.self_cpu_time_total / 1000 / args.steps
    busy = sum(classes.values())
    print(f"nanoGPT[{args.config}] batch {batch}: {wall:.1f} ms/step wall (profiled), "
          f"{busy:.1f} ms/step in ops (self time on the calling thread)")
    print(f"  {'class':<48}{'ms/step':>12}{'share':>8}")
    for name, value in classes.most_common():
        print(f"  {name:<48}{value:>12.2f}{value / busy:>8.0%}")


if __name__ == "__main__":
    main()
