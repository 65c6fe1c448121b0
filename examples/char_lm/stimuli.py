"""Stimuli for `nscc analyze`: ambiguous and clear sentences for the example char LM.

Writes stimuli.npz (`ids`, 16 sentences of 64 characters, padded with spaces)
and stimuli_labels.npy (1 = ambiguous, 0 = clear), for

    nscc analyze examples/char_lm/model.onnx -p spike-conversion \\
        --calib examples/char_lm/stimuli.npz --labels examples/char_lm/stimuli_labels.npy -o build/analysis

The ambiguous ones are garden-path and lexically ambiguous sentences (the
reader's first parse fails); the clear ones say similar things plainly.
"""

import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CTX = 64

AMBIGUOUS = [
    "The old man the boat while the young sail the ship.",
    "The horse raced past the barn fell down in the mud.",
    "The complex houses married and single soldiers here.",
    "Time flies like an arrow; fruit flies like a banana.",
    "The cotton clothing is made of grows in the south.",
    "We painted the wall with cracks in the old kitchen.",
    "The man who hunts ducks out on weekends with a dog.",
    "Fat people eat accumulates in the body over time.",
]
CLEAR = [
    "The old men sail the boat while the young sail a ship.",
    "The horse that was raced past the barn fell in the mud.",
    "The large building houses soldiers and their families.",
    "Time passes quickly, and fruit flies enjoy a banana.",
    "The cotton that clothing is made of grows in the south.",
    "We painted the cracked wall of the old kitchen today.",
    "The man who hunts ducks goes out on weekends with a dog.",
    "The fat that people eat accumulates in the body.",
]


def main() -> None:
    with open(os.path.join(HERE, "vocab.json")) as f:
        vocab = json.load(f)
    ids = np.array([[vocab.index(c) for c in s.ljust(CTX)[:CTX]] for s in AMBIGUOUS + CLEAR], np.int64)
    labels = np.array([1] * len(AMBIGUOUS) + [0] * len(CLEAR), np.int64)
    np.savez(os.path.join(HERE, "stimuli.npz"), ids=ids)
    np.save(os.path.join(HERE, "stimuli_labels.npy"), labels)


if __name__ == "__main__":
    main()
