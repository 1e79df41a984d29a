"""The training script that ``--python OUT.py --with-training`` appends to the model file.

It carries the project's data, augmentation and training settings as plain dicts and needs
only torch, numpy and Pillow (scikit-learn for the 'digits' source, safetensors to start from
a .safetensors file). ``python OUT.py`` trains on one device; ``torchrun --nproc-per-node N
OUT.py`` trains data-parallel (gloo on CPU, nccl on GPUs). It starts from ``WEIGHTS``, a file
the same export wrote (see ``start_from``), else from the model's initializers. Checkpoints
hold {"model": state_dict, "class_names": [...]}, which Netdraft's ``--weights`` reads back.
The script mirrors Netdraft's trainer in what it computes, not bit for bit (Netdraft draws
its random numbers differently). Its data loading is in training_data.py.
"""

from __future__ import annotations

import pprint
from string import Template
from typing import Any

from engine.backend.build import lr_multiplier
from engine.export.training_data import DATA_CODE
from engine.layers import HeadRole

SCRIPT = Template('''\
# --------------------------------------------------------------------------- training
# python THIS_FILE [--data ...] [--epochs N] trains on one device (a GPU when there is one);
# torchrun --nproc-per-node N THIS_FILE [...] trains data-parallel on N processes (one per
# GPU, or gloo on CPUs). --help lists the flags; checkpoints go to run/best.pt and last.pt.

# The weights training starts from, relative to this file (None: the model's initializers).
WEIGHTS = None

# The project's settings when this file was written; the flags below override a few.
DATA = ${data}
AUGMENTATION = ${augmentation}
TRAINING = ${training}
LOSS = ${loss}
CHANNEL_ORDER = ${channel_order}
# Learning-rate multipliers of blocks that differ from 1 (0 freezes a block).
LR_MULT = ${lr_mult}


${data_code}

def augment(x, generator, cfg=AUGMENTATION):
    """Random flips, rotation, shift, shear, zoom and crops as one affine warp per image,
    then brightness, contrast and random erasing (Keras's ImageDataGenerator set)."""
    n, _, height, width = x.shape
    r = torch.rand(n, 12, generator=generator, device=x.device)

    def span(column, low, high):
        return low + (high - low) * r[:, column]

    angle = torch.deg2rad(span(0, -1, 1) * cfg["rotation_range"])
    shear = span(1, -1, 1) * cfg["shear_range"]
    zoom = span(2, 1 - cfg["zoom_range"], 1 + cfg["zoom_range"])
    crop = torch.sqrt(span(3, cfg["random_resized_crop"], 1.0)) if cfg["random_resized_crop"] \\
        else torch.ones(n, device=x.device)
    flip_x = torch.where((r[:, 4] < 0.5) & cfg["horizontal_flip"], -1.0, 1.0)
    flip_y = torch.where((r[:, 5] < 0.5) & cfg["vertical_flip"], -1.0, 1.0)
    scale = zoom * crop
    theta = torch.zeros(n, 2, 3, device=x.device)
    theta[:, 0, 0] = torch.cos(angle) * scale * flip_x
    theta[:, 0, 1] = -torch.sin(angle + shear) * scale * height / width
    theta[:, 1, 0] = torch.sin(angle) * scale * width / height * flip_y
    theta[:, 1, 1] = torch.cos(angle + shear) * scale * flip_y
    theta[:, 0, 2] = span(6, -1, 1) * cfg["width_shift_range"] * 2 + span(7, -1, 1) * (1 - crop)
    theta[:, 1, 2] = span(8, -1, 1) * cfg["height_shift_range"] * 2 + span(9, -1, 1) * (1 - crop)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    if cfg["brightness"]:
        x = x * span(10, 1 - cfg["brightness"], 1 + cfg["brightness"]).view(-1, 1, 1, 1)
    if cfg["contrast"]:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * span(11, 1 - cfg["contrast"], 1 + cfg["contrast"]).view(-1, 1, 1, 1)
        x = x + mean
    if cfg["random_erasing"]:
        x = x * _erase_mask(x, cfg["random_erasing"], generator)
    return x


def _erase_mask(x, probability, generator):
    n, _, height, width = x.shape
    r = torch.rand(n, 5, generator=generator, device=x.device)
    h = (height * (0.14 + 0.44 * r[:, 0])).long().clamp(min=1)
    w = (width * (0.14 + 0.44 * r[:, 1])).long().clamp(min=1)
    top = (r[:, 2] * (height - h + 1)).long().view(-1, 1, 1)
    left = (r[:, 3] * (width - w + 1)).long().view(-1, 1, 1)
    rows = torch.arange(height, device=x.device).view(1, -1, 1)
    cols = torch.arange(width, device=x.device).view(1, 1, -1)
    inside = (rows >= top) & (rows < top + h.view(-1, 1, 1)) & (cols >= left)
    inside &= (cols < left + w.view(-1, 1, 1)) & (r[:, 4] < probability).view(-1, 1, 1)
    return (~inside).unsqueeze(1).to(x.dtype)


def train_mode(scorer, model):
    """Training mode, except for frozen blocks (lr_mult 0): as in Netdraft's trainer they
    stay in eval mode, so a frozen BatchNorm keeps its running statistics too."""
    scorer.train()
    for name, block in model.named_children():
        if LR_MULT.get(name, 1.0) == 0:
            block.eval()


def shard(order, rank, world):
    """This rank's part of an epoch's order, padded by wrapping (as DistributedSampler pads)
    so every rank takes the same number of steps: DDP waits for all of them at each step."""
    if len(order) % world:
        order = torch.cat([order, order[:world - len(order) % world]])
    return order[rank::world]


class Scores(nn.Module):
    """What the loss sees: ${scores_words}."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return ${scores_call}


def loss_fn(scores, y):
    if LOSS == "cross_entropy":
        return F.cross_entropy(scores, y, label_smoothing=TRAINING["label_smoothing"])
    if LOSS == "nll":  # smoothed as the trainer does: (1 - e) * nll + e * mean(-log p)
        smoothing = TRAINING["label_smoothing"]
        return (1 - smoothing) * F.nll_loss(scores, y) - smoothing * scores.mean(1).mean()
    target = F.one_hot(y, scores.shape[1]).float()
    if LOSS == "bce":
        return ${bce}
    return F.mse_loss(scores, target)


def make_optimizer(model, cfg=TRAINING):
    groups = {}
    for name, block in model.named_children():
        mult = LR_MULT.get(name, 1.0)
        for param in block.parameters():
            param.requires_grad_(mult > 0)
            if mult > 0:
                groups.setdefault(mult, []).append(param)
    params = [{"params": p, "lr": cfg["lr"] * m} for m, p in groups.items()]
    if cfg["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=cfg["lr"], momentum=cfg["momentum"],
                               nesterov=cfg["nesterov"], weight_decay=cfg["weight_decay"])
    if cfg["optimizer"] == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg["lr"], momentum=cfg["momentum"],
                                   weight_decay=cfg["weight_decay"])
    optimizer = torch.optim.AdamW if cfg["optimizer"] == "adamw" else torch.optim.Adam
    return optimizer(params, lr=cfg["lr"], weight_decay=cfg["weight_decay"])


def make_schedule(optimizer, epochs, steps, cfg=TRAINING):
    """(scheduler, stepped per batch?) for the schedule the project names."""
    s = torch.optim.lr_scheduler
    if cfg["schedule"] == "step":
        return s.StepLR(optimizer, cfg["step_size"], gamma=cfg["gamma"]), False
    if cfg["schedule"] == "cosine":
        return s.CosineAnnealingLR(optimizer, T_max=max(1, epochs)), False
    if cfg["schedule"] == "one_cycle":
        max_lr = [group["lr"] for group in optimizer.param_groups]
        return s.OneCycleLR(optimizer, max_lr, total_steps=max(1, epochs * steps)), True
    if cfg["schedule"] == "plateau":
        return s.ReduceLROnPlateau(optimizer, factor=cfg["gamma"],
                                   patience=cfg.get("patience", 2)), False
    return None, False


def evaluate(scorer, x, y, batch_size, device):
    scorer.eval()
    total, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for start in range(0, len(y), batch_size):
            xb = _rescale(x[start:start + batch_size].to(device))
            yb = y[start:start + batch_size].to(device)
            scores = scorer(xb)
            total += loss_fn(scores, yb).item() * len(yb)
            correct += (${guess}.argmax(1) == yb).sum().item()
            count += len(yb)
    return total / max(1, count), correct / max(1, count)


def _rescale(x):
    x = x.float()
    return x * AUGMENTATION["rescale"] if AUGMENTATION["rescale"] != 1.0 else x


def main():
    exported = str(Path(__file__).parent / WEIGHTS) if WEIGHTS else "none"
    beside = ", relative to this file: the weights exported with it" if WEIGHTS else ""
    parser = argparse.ArgumentParser(
        description="Train ${class_name} with the project's data, augmentation and training "
                    "settings. Run it with python, or with torchrun --nproc-per-node N for "
                    "data-parallel training.")
    parser.add_argument("--data", default=DATA["dataset"],
                        help="the dataset (see load_source; default: %(default)s)")
    parser.add_argument("--val-data", default=DATA["val_dataset"],
                        help="a separate validation dataset (default: the dataset's own "
                             "validation part, else a random val_fraction of it)")
    parser.add_argument("--epochs", type=int, default=TRAINING["epochs"])
    parser.add_argument("--batch-size", type=int, default=TRAINING["batch_size"],
                        help="images per step and process (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=TRAINING["lr"])
    parser.add_argument("--weights", default=exported,
                        help="start from these weights (.safetensors or .pt), or 'none' for "
                             f"the model's initializers (default: {WEIGHTS or 'none'}{beside})")
    parser.add_argument("--out", default="run", help="folder for best.pt and last.pt")
    args = parser.parse_args()
    TRAINING["lr"] = args.lr
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    cuda = torch.cuda.is_available()
    if world > 1:
        torch.distributed.init_process_group("nccl" if cuda else "gloo")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local}" if cuda else "cpu")
    seed = TRAINING["seed"]
    random.seed(seed)
    torch.manual_seed(seed)

    (x, y), val, source_names = load_source(args.data)
    if args.val_data:
        (val_x, val_y), _, val_names = load_source(args.val_data)
        val = val_x, align(val_y, val_names, source_names, args.val_data)
    elif val is None:
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(DATA["seed"]))
        cut = int(len(y) * DATA["val_fraction"])
        held, kept = order[:cut], order[cut:]
        val, x, y = (x[held], y[held]), x[kept], y[kept]
    x, val_x, val_y = fit_images(x), fit_images(val[0]), val[1]
    names = source_names or CLASS_NAMES or [str(i) for i in range(int(y.max()) + 1)]

    model = ${class_name}().to(device)
    if args.weights != "none":
        load_weights(model, args.weights)
    scorer = Scores(model)
    if world > 1:
        scorer = nn.parallel.DistributedDataParallel(scorer, [local] if cuda else None)
    optimizer = make_optimizer(model)
    steps = math.ceil(len(y) / world / args.batch_size)
    schedule, per_batch = make_schedule(optimizer, args.epochs, steps)
    generator = torch.Generator(device=device)
    best, bad_epochs = math.inf, 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for epoch in range(args.epochs):
        train_mode(scorer, model)
        generator.manual_seed(seed * 1000 + epoch * world + rank)
        shuffle = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed + epoch))
        mine = shard(shuffle, rank, world)
        for start in range(0, len(mine), args.batch_size):
            batch = mine[start:start + args.batch_size]
            if len(batch) == 1 and len(mine) > 1:
                break  # a last batch of one image: BatchNorm cannot train on it
            xb, yb = x[batch].to(device).float(), y[batch].to(device)
            if AUGMENTATION["enabled"] and xb.dim() == 4:
                xb = augment(xb, generator)
            loss = loss_fn(scorer(_rescale(xb)), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if TRAINING["grad_clip"]:
                nn.utils.clip_grad_norm_(model.parameters(), TRAINING["grad_clip"])
            optimizer.step()
            if per_batch:
                schedule.step()
        if world > 1:  # DDP copies rank 0's BatchNorm statistics before a step, not after
            for buffer in model.buffers():
                torch.distributed.broadcast(buffer, 0)
        val_loss, val_acc = evaluate(scorer, val_x, val_y, args.batch_size, device)
        if schedule is not None and not per_batch:
            if TRAINING["schedule"] == "plateau":
                schedule.step(val_loss)
            else:
                schedule.step()
        if rank == 0:
            print(f"epoch {epoch + 1}/{args.epochs}: loss {loss.item():.4f}, "
                  f"val_loss {val_loss:.4f}, val_accuracy {val_acc:.4f}", flush=True)
            state = {"model": model.state_dict(), "class_names": names, "epoch": epoch + 1}
            torch.save(state, out / "last.pt")
            if val_loss < best:
                torch.save(state, out / "best.pt")
        best, bad_epochs = (val_loss, 0) if val_loss < best else (best, bad_epochs + 1)
        if TRAINING["early_stopping"] and bad_epochs >= TRAINING["early_stopping"]:
            break
    if world > 1:
        torch.distributed.barrier()  # ranks sometimes die at exit without it
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
''')


def _literal(value: Any) -> str:
    return pprint.pformat(value, indent=4, width=88, sort_dicts=False)


def training_section(project: Any, model: Any) -> str:
    """The script for ``model`` (python_code.ModelPlan) with ``project``'s settings."""
    graph = model.graph
    data = project.settings("data")
    training = project.settings("training")
    augmentation = project.settings("augmentation")
    lr_mult = {attr: lr_multiplier(graph, node_id) for node_id, attr in model.attrs.items()
               if lr_multiplier(graph, node_id) != 1.0}
    node = next(n for n in graph.leaves() if n.kind == "Input")
    use_logits = model.logits_method is not None and model.loss in ("cross_entropy", "bce")
    return SCRIPT.substitute(
        data_code=DATA_CODE.strip("\n"), data=_literal(data),
        augmentation=_literal(augmentation), training=_literal(training), loss=repr(model.loss),
        channel_order=repr(node.params.get("channel_order", "RGB")), lr_mult=_literal(lr_mult),
        class_name=model.class_name,
        scores_words="the logits" if use_logits else "the model's output",
        scores_call=f"self.model.{model.logits_method}(x)" if use_logits else "self.model(x)",
        bce=("F.binary_cross_entropy(scores.clamp(1e-7, 1 - 1e-7), target)"
             if model.head is HeadRole.SIGMOID
             else "F.binary_cross_entropy_with_logits(scores, target)"),
        guess="(-scores)" if model.head is HeadRole.DISTANCES and not use_logits else "scores",
    )


def start_from(text: str, weights: str) -> str:
    """A generated file whose training script starts from ``weights``, a path relative to
    the file's folder (python_code.generate writes scripts that start from the
    initializers)."""
    line = "\nWEIGHTS = None\n"
    if text.count(line) != 1:
        raise ValueError("start_from expects a file written with with_training=True")
    return text.replace(line, f"\nWEIGHTS = {weights!r}\n")
