"""Check hubvram.estimator.llamacpp against what a real llama.cpp allocates (CPU backend).

Not used by the test suite. Needs the ``gguf`` package (to write small models) and
``llama_cpp`` (llama-cpp-python, which carries llama.cpp) to load them; neither is a hubvram
dependency.

    python benchmarks/llamacpp_check.py make DIR          # write the small GGUF models into DIR
    python benchmarks/llamacpp_check.py run DIR OUT.json  # load each case in llama.cpp, parse its log
    python benchmarks/llamacpp_check.py table OUT.json    # markdown: measured vs hubvram's model

Each case runs in a fresh Python process (``case`` subcommand) so that one llama.cpp log is one
case. The models have zero weights: memory does not depend on the values.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MiB = 1024 * 1024

# ---------------------------------------------------------------------------------------------------
# small models

# llama-like: 4 layers, n_embd 256, 8 heads, 2 KV heads (GQA), head 32, FFN 704, vocab 32,000
LLAMA = dict(
    arch="llama", n_layer=4, n_embd=256, n_head=8, n_head_kv=2, n_ff=704, n_vocab=32000, n_ctx_train=32768
)
MODELS = {
    "llama-f16": dict(LLAMA, wtype="F16", tied=False),
    "llama-q8-tied": dict(LLAMA, wtype="Q8_0", tied=True),
    # Gemma 3: 6 layers, pattern 6 -> layers 0-4 slide (window 512), layer 5 is global; head 64
    "gemma3-swa": dict(
        arch="gemma3",
        n_layer=6,
        n_embd=256,
        n_head=4,
        n_head_kv=1,
        head_dim=64,
        n_ff=1024,
        n_vocab=32000,
        n_ctx_train=32768,
        n_swa=512,
        wtype="F16",
        tied=True,
    ),
    # Mixtral-style MoE on the llama architecture: 8 experts, 2 used, expert FFN 512
    "llama-moe": dict(LLAMA, n_expert=8, n_expert_used=2, n_ff=512, wtype="F16", tied=False),
    # the same with a 2,000-token vocabulary, so that attention or the FFN, not the logits, is the peak
    "llama-v2k": dict(LLAMA, n_vocab=2000, n_ff=1408, wtype="F16", tied=False),
    "llama-deep": dict(LLAMA, n_layer=24, n_vocab=2000, n_ff=1408, wtype="F16", tied=False),
    "llama-moe-v2k": dict(
        LLAMA, n_vocab=2000, n_expert=8, n_expert_used=2, n_ff=512, wtype="F16", tied=False
    ),
    # DeepSeek-V2-style MLA: 3 layers (1 dense lead, 2 MoE with a shared expert), kv_lora_rank 64,
    # rope 32, q_lora_rank 128; llama.cpp sees head_count_kv 1, key_length 96, value_length 64
    "deepseek2-mla": dict(
        arch="deepseek2",
        n_layer=3,
        n_embd=256,
        n_head=4,
        n_head_kv=1,
        n_ff=512,
        n_vocab=2000,
        n_ctx_train=32768,
        q_lora_rank=128,
        kv_lora_rank=64,
        qk_rope=32,
        qk_nope=32,
        v_head=32,
        n_expert=4,
        n_expert_used=2,
        n_ff_exp=128,
        n_expert_shared=1,
        n_dense_lead=1,
        wtype="F16",
        tied=False,
    ),
}


def _tokenizer(w, n_vocab: int) -> None:
    # a minimal SentencePiece-style vocabulary the loader accepts: <unk> <s> </s>, 256 byte tokens
    # (so "\n" maps to <0x0A>), then fillers
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    tokens += [f"t{i}" for i in range(n_vocab - len(tokens))]
    types = [2, 3, 3] + [6] * 256 + [1] * (n_vocab - 259)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * n_vocab)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)


def make_model(path: Path, spec: dict) -> None:
    if spec["arch"] == "deepseek2":
        return make_deepseek2(path, spec)
    import numpy as np
    from gguf import GGMLQuantizationType, GGUFWriter
    from gguf.quants import quantize

    arch = spec["arch"]
    E, H, Hkv, F, V = spec["n_embd"], spec["n_head"], spec["n_head_kv"], spec["n_ff"], spec["n_vocab"]
    d = spec.get("head_dim", E // H)
    w = GGUFWriter(str(path), arch)
    w.add_context_length(spec["n_ctx_train"])
    w.add_embedding_length(E)
    w.add_block_count(spec["n_layer"])
    w.add_feed_forward_length(F)
    w.add_head_count(H)
    w.add_head_count_kv(Hkv)
    w.add_key_length(d)
    w.add_value_length(d)
    w.add_rope_dimension_count(d)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_file_type(1 if spec["wtype"] == "F16" else 7)
    if spec.get("n_swa"):
        w.add_sliding_window(spec["n_swa"])
    if spec.get("n_expert"):
        w.add_expert_count(spec["n_expert"])
        w.add_expert_used_count(spec["n_expert_used"])
    _tokenizer(w, V)

    qtype = GGMLQuantizationType[spec["wtype"]]

    def mat(name: str, rows: int, cols: int, *lead: int) -> None:
        # numpy shape is ggml's ne reversed: (..., rows, cols) with cols contiguous
        a = np.zeros((*lead, rows, cols), dtype=np.float32)
        if qtype == GGMLQuantizationType.F16:
            w.add_tensor(name, a.astype(np.float16))
        else:
            w.add_tensor(name, quantize(a, qtype), raw_dtype=qtype)

    def vec(name: str, n: int) -> None:
        w.add_tensor(name, np.ones(n, dtype=np.float32))

    mat("token_embd.weight", V, E)
    vec("output_norm.weight", E)
    if not spec["tied"]:
        mat("output.weight", V, E)
    for i in range(spec["n_layer"]):
        p = f"blk.{i}."
        vec(p + "attn_norm.weight", E)
        mat(p + "attn_q.weight", H * d, E)
        mat(p + "attn_k.weight", Hkv * d, E)
        mat(p + "attn_v.weight", Hkv * d, E)
        mat(p + "attn_output.weight", E, H * d)
        vec(p + "ffn_norm.weight", E)
        if arch == "gemma3":
            vec(p + "post_attention_norm.weight", E)
            vec(p + "post_ffw_norm.weight", E)
            vec(p + "attn_q_norm.weight", d)
            vec(p + "attn_k_norm.weight", d)
        if spec.get("n_expert"):
            n_exp = spec["n_expert"]
            w.add_tensor(p + "ffn_gate_inp.weight", np.zeros((n_exp, E), dtype=np.float32))
            mat(p + "ffn_gate_exps.weight", F, E, n_exp)
            mat(p + "ffn_up_exps.weight", F, E, n_exp)
            mat(p + "ffn_down_exps.weight", E, F, n_exp)
        else:
            mat(p + "ffn_gate.weight", F, E)
            mat(p + "ffn_up.weight", F, E)
            mat(p + "ffn_down.weight", E, F)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def make_deepseek2(path: Path, spec: dict) -> None:
    import numpy as np
    from gguf import GGUFWriter

    E, H, V, F = spec["n_embd"], spec["n_head"], spec["n_vocab"], spec["n_ff"]
    qa, kvr, rope, nope, dv = (
        spec["q_lora_rank"],
        spec["kv_lora_rank"],
        spec["qk_rope"],
        spec["qk_nope"],
        spec["v_head"],
    )
    n_exp, fe = spec["n_expert"], spec["n_ff_exp"]
    w = GGUFWriter(str(path), "deepseek2")
    w.add_context_length(spec["n_ctx_train"])
    w.add_embedding_length(E)
    w.add_block_count(spec["n_layer"])
    w.add_feed_forward_length(F)
    w.add_head_count(H)
    w.add_head_count_kv(1)  # MLA as llama.cpp stores it: one latent "head"
    w.add_key_length(kvr + rope)
    w.add_value_length(kvr)
    w.add_key_length_mla(nope + rope)
    w.add_value_length_mla(dv)
    w.add_rope_dimension_count(rope)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_q_lora_rank(qa)
    w.add_kv_lora_rank(kvr)
    w.add_leading_dense_block_count(spec["n_dense_lead"])
    w.add_expert_count(n_exp)
    w.add_expert_used_count(spec["n_expert_used"])
    w.add_expert_feed_forward_length(fe)
    w.add_expert_shared_count(spec["n_expert_shared"])
    w.add_expert_weights_scale(1.0)
    w.add_file_type(1)
    _tokenizer(w, V)

    def t(name: str, *shape: int) -> None:
        w.add_tensor(name, np.zeros(shape, dtype=np.float16 if len(shape) > 1 else np.float32))

    t("token_embd.weight", V, E)
    t("output_norm.weight", E)
    t("output.weight", V, E)
    for i in range(spec["n_layer"]):
        p = f"blk.{i}."
        t(p + "attn_norm.weight", E)
        t(p + "attn_q_a_norm.weight", qa)
        t(p + "attn_kv_a_norm.weight", kvr)
        t(p + "attn_q_a.weight", qa, E)
        t(p + "attn_q_b.weight", H * (nope + rope), qa)
        t(p + "attn_kv_a_mqa.weight", kvr + rope, E)
        t(p + "attn_k_b.weight", H, kvr, nope)
        t(p + "attn_v_b.weight", H, dv, kvr)
        t(p + "attn_output.weight", E, H * dv)
        t(p + "ffn_norm.weight", E)
        if i < spec["n_dense_lead"]:
            t(p + "ffn_gate.weight", F, E)
            t(p + "ffn_up.weight", F, E)
            t(p + "ffn_down.weight", E, F)
        else:
            w.add_tensor(p + "ffn_gate_inp.weight", np.zeros((n_exp, E), dtype=np.float32))
            t(p + "ffn_gate_exps.weight", n_exp, fe, E)
            t(p + "ffn_up_exps.weight", n_exp, fe, E)
            t(p + "ffn_down_exps.weight", n_exp, E, fe)
            sh = fe * spec["n_expert_shared"]
            t(p + "ffn_gate_shexp.weight", sh, E)
            t(p + "ffn_up_shexp.weight", sh, E)
            t(p + "ffn_down_shexp.weight", E, sh)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def model_from_gguf(path: Path):
    """Build the estimator's LlamaCppModel from a GGUF's metadata and tensor infos."""
    from gguf import GGUFReader

    from hubvram.estimator.llamacpp import LlamaCppModel, swa_pattern

    r = GGUFReader(str(path))

    def kv(key: str, default=None):
        f = r.fields.get(key)
        if f is None:
            return default
        return f.contents()

    arch = kv("general.architecture")
    n_layer = kv(f"{arch}.block_count")
    E = kv(f"{arch}.embedding_length")
    H = kv(f"{arch}.attention.head_count")
    Hkv = kv(f"{arch}.attention.head_count_kv", H)
    dk = kv(f"{arch}.attention.key_length", E // H)
    dv = kv(f"{arch}.attention.value_length", E // H)
    layer = [0] * n_layer
    biggest = [0] * n_layer
    embd = out = out_norm = other = 0
    for t in r.tensors:
        m = re.match(r"blk\.(\d+)\.", t.name)
        if m:
            layer[int(m.group(1))] += int(t.n_bytes)
            biggest[int(m.group(1))] = max(biggest[int(m.group(1))], int(t.n_bytes))
        elif t.name in ("token_embd.weight", "position_embd.weight", "token_types.weight"):
            embd += int(t.n_bytes)
        elif t.name == "output.weight":
            out += int(t.n_bytes)
        elif t.name.startswith("output_norm."):
            out_norm += int(t.n_bytes)
        else:
            other += int(t.n_bytes)
    n_swa = kv(f"{arch}.attention.sliding_window", 0) or 0
    swa = swa_pattern(n_layer, 6) if arch == "gemma3" and n_swa else ()
    n_expert = kv(f"{arch}.expert_count", 0) or 0
    n_ff = kv(f"{arch}.feed_forward_length")
    n_ff_exp = kv(f"{arch}.expert_feed_forward_length", 0) or 0
    n_lead = kv(f"{arch}.leading_dense_block_count", 0) or 0
    mla = kv(f"{arch}.attention.key_length_mla") is not None
    if n_expert and not n_ff_exp:  # Mixtral-style: the experts use feed_forward_length
        n_ff_exp, n_ff = n_ff, 0
    return LlamaCppModel(
        n_layer=n_layer,
        n_embd=E,
        n_head=H,
        n_head_kv=Hkv,
        head_dim_k=dk,
        head_dim_v=dv,
        n_vocab=len(kv("tokenizer.ggml.tokens")),
        n_ctx_train=kv(f"{arch}.context_length"),
        n_ff=n_ff,
        layer_weight_bytes=tuple(layer),
        token_embd_bytes=embd,
        output_bytes=out,
        output_norm_bytes=out_norm,
        other_bytes=other,
        n_swa=n_swa,
        swa_layers=swa,
        n_expert=n_expert,
        n_expert_used=kv(f"{arch}.expert_used_count", 0) or 0,
        n_ff_exp=n_ff_exp,
        n_ff_shexp=n_ff_exp * (kv(f"{arch}.expert_shared_count", 0) or 0),
        n_layer_dense_lead=n_lead,
        mla=mla,
        layer_max_tensor_bytes=tuple(biggest),
    )


# ---------------------------------------------------------------------------------------------------
# cases

CASES: list[dict] = []
for _ctx in (512, 4096, 32768):
    for _fa in ("off", "on"):
        CASES.append(dict(model="llama-f16", n_ctx=_ctx, fa=_fa))
CASES += [
    dict(model="llama-f16", n_ctx=4096, fa="on", type_k="q8_0", type_v="q8_0"),
    dict(model="llama-f16", n_ctx=4096, fa="off", type_k="q8_0", type_v="f16"),
    dict(model="llama-f16", n_ctx=4096, fa="on", n_ubatch=128),
    dict(model="llama-f16", n_ctx=4096, fa="off", n_ubatch=2048, n_batch=2048),
    dict(model="llama-f16", n_ctx=1000, fa="off"),
    dict(model="llama-f16", n_ctx=8192, fa="on", n_seq=4),
    dict(model="llama-f16", n_ctx=8192, fa="off", n_seq=4, kv_unified=True),
    dict(model="llama-q8-tied", n_ctx=4096, fa="on"),
    dict(model="gemma3-swa", n_ctx=4096, fa="on"),
    dict(model="gemma3-swa", n_ctx=32768, fa="off"),
    dict(model="gemma3-swa", n_ctx=32768, fa="on", swa_full=True),
    dict(model="llama-moe", n_ctx=4096, fa="on"),
    dict(model="llama-moe", n_ctx=4096, fa="off"),
    dict(model="llama-v2k", n_ctx=4096, fa="on"),
    dict(model="llama-v2k", n_ctx=4096, fa="off"),
    dict(model="llama-v2k", n_ctx=512, fa="off"),
    dict(model="llama-v2k", n_ctx=8192, fa="off", n_seq=4),
    dict(model="llama-v2k", n_ctx=0, fa="on"),
    dict(model="llama-v2k", n_ctx=4096, fa="auto"),
    dict(model="llama-moe-v2k", n_ctx=4096, fa="on"),
    dict(model="llama-moe-v2k", n_ctx=1024, fa="off"),
    dict(model="deepseek2-mla", n_ctx=4096, fa="on"),
    dict(model="deepseek2-mla", n_ctx=4096, fa="off"),
    dict(model="deepseek2-mla", n_ctx=32768, fa="on", type_k="q8_0", type_v="q8_0"),
    dict(model="llama-deep", n_ctx=4096, fa="off"),
    dict(model="llama-deep", n_ctx=4096, fa="on"),
]


def case_name(c: dict) -> str:
    parts = [c["model"], f"ctx{c['n_ctx']}", f"fa-{c['fa']}"]
    for key, short in (
        ("type_k", "k"),
        ("type_v", "v"),
        ("n_ubatch", "ub"),
        ("n_batch", "b"),
        ("n_seq", "np"),
    ):
        if key in c:
            parts.append(f"{short}{c[key]}")
    if c.get("kv_unified"):
        parts.append("kvu")
    if c.get("swa_full"):
        parts.append("swafull")
    return " ".join(parts)


GGML_TYPES = {
    "f32": 0,
    "f16": 1,
    "q4_0": 2,
    "q4_1": 3,
    "q5_0": 6,
    "q5_1": 7,
    "q8_0": 8,
    "iq4_nl": 20,
    "bf16": 30,
}


def run_case_inprocess(model_path: str, c: dict) -> None:
    """Load model_path with case c in llama.cpp (this process); llama.cpp logs to stderr."""
    import ctypes

    import llama_cpp as L

    @L.llama_log_callback
    def log(level, text, user_data):  # noqa: ARG001
        sys.stderr.write(text.decode("utf-8", "replace"))

    L.llama_log_set(log, ctypes.c_void_p(0))
    L.llama_backend_init()
    mp = L.llama_model_default_params()
    mp.n_gpu_layers = 0
    model = L.llama_model_load_from_file(model_path.encode(), mp)
    if not model:
        raise SystemExit("model load failed")
    cp = L.llama_context_default_params()
    cp.n_ctx = c["n_ctx"]
    cp.n_batch = c.get("n_batch", 2048)
    cp.n_ubatch = c.get("n_ubatch", 512)
    cp.n_seq_max = c.get("n_seq", 1)
    cp.flash_attn_type = {"off": 0, "on": 1, "auto": -1}[c["fa"]]
    cp.type_k = GGML_TYPES[c.get("type_k", "f16")]
    cp.type_v = GGML_TYPES[c.get("type_v", "f16")]
    cp.swa_full = bool(c.get("swa_full", False))  # the C default is true; the CLI's is false
    cp.kv_unified = bool(c.get("kv_unified", False))
    cp.n_threads = cp.n_threads_batch = 1
    ctx = L.llama_init_from_model(model, cp)
    if not ctx:
        raise SystemExit("context creation failed")
    sys.stderr.flush()
    L.llama_free(ctx)
    L.llama_model_free(model)


LOG_PATTERNS = {
    "model_buffers": re.compile(r"load_tensors:\s+(\S+) model buffer size =\s+([\d.]+) MiB"),
    "kv_buffer": re.compile(r"llama_kv_cache:\s+(\S+) KV buffer size =\s+([\d.]+) MiB"),
    "kv_size": re.compile(
        r"llama_kv_cache: size =\s+([\d.]+) MiB \(\s*(\d+) cells,\s+(\d+) layers,\s+(\d+)/(\d+) seqs\), "
        r"K \((\w+)\):\s+([\d.]+) MiB, V \((\w+)\):\s+([\d.]+) MiB"
    ),
    "output_buffer": re.compile(r"llama_context:\s+(\S+)\s+output buffer size =\s+([\d.]+) MiB"),
    "compute_buffer": re.compile(r"sched_reserve:\s+(\S+) compute buffer size =\s+([\d.]+) MiB"),
    # the destructor's debug line has 4 decimals
    "compute_buffer_exact": re.compile(r"~llama_context:\s+(\S+) compute buffer size is\s+([\d.]+) MiB"),
    "n_ctx": re.compile(r"llama_context: n_ctx\s+= (\d+)"),
    "n_ctx_seq": re.compile(r"llama_context: n_ctx_seq\s+= (\d+)"),
    "flash_attn": re.compile(r"llama_context: flash_attn\s+= (\w+)"),
    "swa_cells": re.compile(r"creating\s+SWA KV cache, size = (\d+) cells"),
}


def parse_log(text: str) -> dict:
    out: dict = {}
    for key, pat in LOG_PATTERNS.items():
        hits = pat.findall(text)
        if hits:
            out[key] = hits
    return out


def run_all(model_dir: Path, out_path: Path) -> None:
    results = []
    for c in CASES:
        path = model_dir / f"{c['model']}.gguf"
        proc = subprocess.run(
            [sys.executable, __file__, "case", str(path), json.dumps(c)],
            capture_output=True,
            text=True,
            timeout=600,
            env=dict(os.environ),
        )
        parsed = parse_log(proc.stderr)
        results.append(
            dict(
                case=c,
                name=case_name(c),
                rc=proc.returncode,
                log=parsed,
                tail=proc.stderr[-2000:] if proc.returncode else "",
            )
        )
        print(case_name(c), "rc", proc.returncode, file=sys.stderr)
    out_path.write_text(json.dumps(results, indent=1))


def model_for(c: dict, model_dir: Path):
    return model_from_gguf(model_dir / f"{c['model']}.gguf")


def estimate_for(c: dict, model_dir: Path):
    from hubvram.estimator.llamacpp import LlamaCppOptions, estimate

    opts = LlamaCppOptions(
        n_ctx=c["n_ctx"],
        n_batch=c.get("n_batch", 2048),
        n_ubatch=c.get("n_ubatch", 512),
        n_seq=c.get("n_seq", 1),
        flash_attn=c["fa"],
        type_k=c.get("type_k", "f16"),
        type_v=c.get("type_v", "f16"),
        swa_full=c.get("swa_full", False),
        kv_unified=c.get("kv_unified", False),
        backend="cpu",
    )
    return estimate(model_for(c, model_dir), opts)


def table(results_path: Path, model_dir: Path) -> str:
    rows = [
        "| case | KV MiB meas. / model | output MiB meas. / model | weights MiB meas. / model "
        "| compute MiB measured | compute MiB model | model - measured |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in json.loads(results_path.read_text()):
        log = r["log"]
        if r["rc"] != 0:
            rows.append(f"| {r['name']} | failed (rc {r['rc']}) | | | | | |")
            continue
        est = estimate_for(r["case"], model_dir)
        kv_meas = sum(float(x[1]) for x in log.get("kv_buffer", []))
        out_meas = sum(float(x[1]) for x in log.get("output_buffer", []))
        w_meas = sum(float(x[1]) for x in log.get("model_buffers", []))
        comp = log.get("compute_buffer_exact") or log.get("compute_buffer", [])
        comp_meas = sum(float(x[1]) for x in comp)
        h = est.host
        diff = h.compute / MiB - comp_meas
        slot = est.compute_terms.embd / MiB
        rows.append(
            f"| {r['name']} | {kv_meas:.2f} / {h.kv_cache / MiB:.2f} | {out_meas:.2f} / {h.output / MiB:.2f} "
            f"| {w_meas:.2f} / {h.weights / MiB:.2f} | {comp_meas:.4f} | {h.compute / MiB:.4f} "
            f"| {diff:+.4f} ({diff / slot:+.1f} slots) |"
        )
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("make")
    p.add_argument("dir", type=Path)
    p = sub.add_parser("run")
    p.add_argument("dir", type=Path)
    p.add_argument("out", type=Path)
    p = sub.add_parser("case")
    p.add_argument("model")
    p.add_argument("case")
    p = sub.add_parser("table")
    p.add_argument("results", type=Path)
    p.add_argument("dir", type=Path)
    a = ap.parse_args()
    if a.cmd == "make":
        a.dir.mkdir(parents=True, exist_ok=True)
        for name, spec in MODELS.items():
            make_model(a.dir / f"{name}.gguf", spec)
            print(name, (a.dir / f"{name}.gguf").stat().st_size)
    elif a.cmd == "run":
        run_all(a.dir, a.out)
    elif a.cmd == "case":
        run_case_inprocess(a.model, json.loads(a.case))
    elif a.cmd == "table":
        print(table(a.results, a.dir))


if __name__ == "__main__":
    main()
