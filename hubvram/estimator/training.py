"""Training: one step's forward, backward and optimizer phases, under every memory strategy."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..dtypes import FLOAT_BYTES, FLOAT_DTYPES, QUANTIZED_DTYPES
from ..model.facts import ModelFacts
from ..model.families import is_encoder_only
from .activations import loss_bytes, top_saved, training_layer_bytes
from .options import EstimateOptions
from .result import Estimate, finish
from .shape import Shape, layer_shape
from .weights import (
    lora_parameters,
    optimizer_scratch_bytes_per_param,
    optimizer_state_bytes_per_param,
    param_split,
    stored_compute_dtype,
    weights_bytes,
)


@dataclass
class Resident:
    """What one training step keeps whatever its activations: weights, gradients, optimizer states."""

    e: int  # bytes of the compute dtype
    compute: str
    grad_bytes: int
    lora: bool
    weights: float
    trainable: float
    gradients: float
    states: float
    scratch: float
    base: dict[str, float]  # alive through the whole step
    live: dict[str, float]  # alive during forward and backward (base + autocast copies)
    notes: list[str] = field(default_factory=list)


def resident(
    facts: ModelFacts, options: EstimateOptions, s: Shape, frozen: int = 0, unstored: int = 0
) -> Resident:
    """Weights, gradients and optimizer states of a training step under every memory strategy.

    ``frozen``: parameters in the count that are never trained (Whisper's encoder positions); ``unstored``:
    parameters the model creates that its checkpoints do not store (Marian's sinusoidal tables), not trained.
    """
    arch = facts.architecture
    notes: list[str] = []
    params = param_split(facts)
    n = options.num_gpus if options.zero_stage else 1
    lora = options.lora_rank is not None

    if options.mixed_precision:
        compute, param_dtype = options.mixed_precision, "fp32"
    elif options.dtype in FLOAT_DTYPES:
        compute = param_dtype = options.dtype
    elif options.dtype in QUANTIZED_DTYPES:  # QLoRA: quantized frozen base, bf16 compute
        compute = param_dtype = "bf16"
    else:
        compute = param_dtype = stored_compute_dtype(facts)
    e = FLOAT_BYTES[compute]
    p_bytes = FLOAT_BYTES[param_dtype]

    # What is trained, and in which dtypes (weights / gradients / optimizer states).
    autocast_copies = dequantized = 0.0
    if lora:
        weights = weights_bytes(facts, options.dtype)
        trainable = lora_parameters(arch, options.lora_rank or 0, options.lora_targets)
        adapter = facts.adapter
        if adapter and adapter.rank == options.lora_rank and not adapter.derived:
            trainable = adapter.parameters  # continuing this adapter's training: its exact count
        adapters = trainable * 4.0  # PEFT keeps adapters in fp32 (autocast_adapter_dtype=True)
        state_bytes = grad_bytes = 4
        notes.append(
            f"LoRA rank {options.lora_rank} on {','.join(options.lora_targets)}: "
            f"{trainable:,} trainable parameters in fp32; activations counted as for full fine-tuning"
        )
        if options.dtype in QUANTIZED_DTYPES:  # bitsandbytes dequantizes one weight at a time to 16-bit
            dequantized = 2.0 * s.hidden * max(s.inter, s.q, s.hidden)
    else:
        trainable = max(params.total - frozen, 0)
        adapters = 0.0
        state_bytes = grad_bytes = p_bytes
        recast = options.dtype or options.mixed_precision
        weights = params.total * p_bytes if recast else float(facts.weights_bytes)
        weights += unstored * p_bytes  # created by the model class, absent from the files
        if options.mixed_precision:  # autocast caches a 16-bit copy of each weight it casts (torch.amp docs)
            autocast_copies = params.total * e
            notes.append(
                f"mixed precision {options.mixed_precision}: fp32 master weights, gradients and optimizer "
                "states; autocast keeps a 16-bit copy of the weights during forward and backward"
            )
    gradients = trainable * grad_bytes
    states = trainable * optimizer_state_bytes_per_param(options.optimizer, state_bytes)
    scratch = trainable * optimizer_scratch_bytes_per_param(options.optimizer, state_bytes)

    # ZeRO (Rajbhandari et al. 2020): stage 1 shards optimizer states, 2 also gradients, 3 also parameters.
    gathered = 0.0
    if options.zero_stage >= 1:
        states, scratch = states / n, scratch / n
    if options.zero_stage >= 2:
        gradients /= n
    if options.zero_stage >= 3:
        weights, adapters = weights / n, adapters / n
        gathered = 2 * s.layer_params * e  # one layer gathered + one prefetched (ZeRO-3 / FSDP)
        notes.append(f"ZeRO-3 over {n} GPUs: parameters, gradients and optimizer states sharded")
    elif options.zero_stage:
        notes.append(f"ZeRO-{options.zero_stage} over {n} GPUs")
    if options.offload != "none":
        off = states + (weights if options.zero_stage >= 3 else 0)
        what = "optimizer states and parameters" if options.zero_stage >= 3 else "optimizer states"
        notes.append(f"{what} offloaded to {options.offload}: {off / 1e9:.1f} GB there (ZeRO-Offload)")
        if options.zero_stage >= 3:
            weights = 0.0
        states = scratch = 0.0  # the CPU optimizer (DeepSpeedCPUAdam) steps there

    base: dict[str, float] = {"weights": weights, "optimizer_states": states}
    if adapters:
        base["lora_adapters"] = adapters
    if gathered:
        base["zero3_gathered"] = gathered
    if dequantized:
        base["dequantized_weight"] = dequantized
    live = dict(base, **({"autocast_weights": autocast_copies} if autocast_copies else {}))
    return Resident(
        e, compute, grad_bytes, lora, weights, trainable, gradients, states, scratch, base, live, notes
    )


def estimate_training(facts: ModelFacts, options: EstimateOptions) -> Estimate:
    arch = facts.architecture
    params = param_split(facts)
    s = layer_shape(arch, facts.model_id, "training", params)
    encoder = is_encoder_only(arch)
    r = resident(facts, options, s)
    e, lora, grad_bytes, gradients = r.e, r.lora, r.grad_bytes, r.gradients
    notes = list(r.notes)
    live = r.live

    # Activations: saved for backward at the end of the forward, then what backward adds on top.
    tokens = options.batch_size * options.seq_len
    layer = tokens * training_layer_bytes(arch, s, e, options.seq_len, options)
    top = tokens * top_saved(arch, s, e, encoder)
    loss_forward, loss_saved, loss_backward = (tokens * s.vocab * x for x in loss_bytes(arch, e, encoder))
    if (
        options.gradient_checkpointing
    ):  # HF checkpoints every layer: only its input is kept (Chen et al. 2016)
        saved = s.layers * tokens * e * s.hidden + top
    else:
        saved = s.layers * layer + top
    tied = bool(arch.tie_word_embeddings)
    embed_grad = s.vocab * s.hidden * grad_bytes if not lora else 0.0
    # Gradients from earlier micro-batches stay alive through the next forward (gradient accumulation).
    held = gradients if options.grad_accumulation > 1 else 0.0

    forward = dict(live, gradients=held, activations=saved + loss_forward)
    # Backward, at its start: nll and log_softmax gradients beside every saved activation.
    start = dict(live, gradients=held, activations=saved + loss_backward)
    # ... then the lm_head's weight gradient, beside the logits' gradient in the compute dtype.
    head = dict(
        live,
        gradients=held + (embed_grad if not tied else 0.0),
        activations=saved + tokens * (s.vocab * e + s.hidden * e) + (embed_grad if tied else 0.0),
    )
    # ... at its end: every gradient; a tied embedding's two gradients are summed out of place (autograd's
    # InputBuffer), so the embedding gradient and the sum briefly sit beside the lm_head's.
    end = dict(live, gradients=gradients, activations=2 * embed_grad if tied else 0.0)
    backward = [start, head, end]
    if options.gradient_checkpointing:  # the first layer recomputed last, with nearly every gradient present
        first_layer_grads = s.layer_params * grad_bytes if not lora else 0.0
        recompute = layer + tokens * 2 * e * (s.inter + s.hidden)  # its saved tensors + the gradients flowing
        backward.append(
            dict(
                live,
                gradients=gradients - first_layer_grads - (0.0 if tied else embed_grad),
                activations=saved + recompute,
            )
        )
    phases: dict[str, dict[str, float]] = {
        "forward": forward,
        "backward": max(backward, key=lambda d: sum(d.values())),
        "optimizer_step": dict(r.base, gradients=gradients, optimizer_scratch=r.scratch, activations=0.0),
    }
    return finish_training(options, r, phases, held, notes)


def finish_training(
    options: EstimateOptions, r: Resident, phases: dict[str, dict[str, float]], held: float, notes: list[str]
) -> Estimate:
    """The Estimate of a training step from its phases, with the notes every strategy adds."""
    if options.grad_accumulation > 1:
        notes.append(
            f"gradient accumulation over {options.grad_accumulation} micro-batches of {options.batch_size}: "
            "gradients stay alive during each forward"
        )
    if options.gradient_checkpointing:
        notes.append(
            "gradient checkpointing: each layer keeps its input; backward recomputes one layer at a time"
        )
    if options.attention == "eager":
        notes.append("eager attention keeps batch x heads x seq x seq scores per layer")
    if not r.lora and not options.mixed_precision and r.compute != "fp32":
        notes.append(
            f"pure {r.compute}: weights, gradients and optimizer states in {r.compute}, no fp32 master copy "
            "(most fine-tuning runs mixed precision: the default without --dtype)"
        )
    if r.lora and options.dtype in QUANTIZED_DTYPES and not options.gradient_checkpointing:
        notes.append(
            "QLoRA recipes turn on gradient checkpointing (--gradient-checkpointing): "
            "without it the activations dominate"
        )
    peak = max(phases, key=lambda name: sum(phases[name].values()))
    if peak != "optimizer_step" and not held:
        notes.append(f"peak during {peak}: gradients are not allocated yet (zero_grad(set_to_none=True))")
    return finish(options, phases, notes)
