"""MetadataCache: kept for a lifetime or while the vendor's version holds; never fails a
call; keeps nothing when disabled."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings

from crmsync.authoring import MetadataCache, settings_fingerprint


def counting_load(answers: list[int]):
    def load() -> dict[str, int]:
        answers.append(len(answers) + 1)
        return {"n": answers[-1]}

    return load


def test_an_entry_lives_its_lifetime(tmp_path: Path) -> None:
    now = [0.0]
    loads: list[int] = []
    path = tmp_path / "c.json"
    cache = MetadataCache(path, seconds=60, clock=lambda: now[0])
    assert cache.get_or_load("k", counting_load(loads)) == {"n": 1}
    now[0] = 59
    other_process = MetadataCache(path, seconds=60, clock=lambda: now[0])
    assert other_process.get_or_load("k", counting_load(loads)) == {"n": 1}
    now[0] = 61
    assert other_process.get_or_load("k", counting_load(loads)) == {"n": 2}


def test_a_vendor_version_outlives_the_lifetime_and_a_new_one_reloads(
    tmp_path: Path,
) -> None:
    now = [0.0]
    loads: list[int] = []
    cache = MetadataCache(tmp_path / "c.json", seconds=60, clock=lambda: now[0])
    cache.get_or_load("k", counting_load(loads), version="v1")
    now[0] = 10_000
    assert cache.get_or_load("k", counting_load(loads), version="v1") == {"n": 1}
    assert cache.get_or_load("k", counting_load(loads), version="v2") == {"n": 2}


def test_disabled_or_unreadable_means_load(tmp_path: Path) -> None:
    loads: list[int] = []
    disabled = MetadataCache(tmp_path / "off.json", seconds=0)
    disabled.get_or_load("k", counting_load(loads))
    disabled.get_or_load("k", counting_load(loads))
    assert loads == [1, 2] and not (tmp_path / "off.json").exists()
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    cache = MetadataCache(broken, seconds=60)
    assert cache.get_or_load("k", counting_load(loads)) == {"n": 3}
    assert cache.get_or_load("k", counting_load(loads)) == {"n": 3}  # rewritten whole
    cache.forget("k")
    assert cache.get_or_load("k", counting_load(loads)) == {"n": 4}


def test_the_fingerprint_holds_no_secret_and_tells_settings_apart() -> None:
    class Settings(BaseSettings):
        url: str = "https://a.example.com"
        secret: SecretStr = SecretStr("hunter2-very-secret")

    one = settings_fingerprint("acme", Settings())
    assert one == settings_fingerprint("acme", Settings(secret=SecretStr("other")))
    assert one != settings_fingerprint("acme", Settings(url="https://b.example.com"))
    assert one != settings_fingerprint("zeta", Settings())
    assert "hunter2" not in one
