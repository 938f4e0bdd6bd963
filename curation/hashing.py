"""Content hashes that make imports and generation idempotent."""
import hashlib
import json


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def normalize_whitespace(text: str) -> str:
    return " ".join(text.split())


def prompt_hash(text: str, messages: list[dict] | None = None) -> str:
    """Hash of a prompt: its messages when it is a conversation, else its text.

    A one-turn conversation hashes like the same text given plainly, so the two
    spellings of one prompt are the same prompt.
    """
    if messages and not (len(messages) == 1 and messages[0].get("role") == "user"):
        canonical = json.dumps(
            [{"role": m["role"], "content": m["content"]} for m in messages],
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return sha256_hex("messages:" + canonical)
    if messages:
        text = messages[0]["content"]
    return sha256_hex("text:" + text)


def response_hash(text: str) -> str:
    """Whitespace-normalised, so re-generated duplicates differing only in spacing collapse."""
    return sha256_hex(normalize_whitespace(text))


def pair_hash(prompt_content_hash: str, hash_a: str, hash_b: str) -> str:
    """Side-independent: (A, B) and (B, A) are the same pair."""
    low, high = sorted((hash_a, hash_b))
    return sha256_hex(f"{prompt_content_hash}:{low}:{high}")


def seeded_coin(*parts: object) -> bool:
    """A reproducible fair coin from any key (used to shuffle stored sides)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode("utf-8")).digest()
    return bool(digest[0] & 1)
