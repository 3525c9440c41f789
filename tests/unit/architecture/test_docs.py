"""The docs point at what exists: every test the guarantees name, every file a doc
links to, and nothing outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
TEST_REFERENCE = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+))?(?:::(\w+))?")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_test_a_doc_names_exists(doc):
    for path, first, second in TEST_REFERENCE.findall(doc.read_text()):
        source = (ROOT / path).read_text()
        for name in filter(None, (first, second)):
            assert re.search(rf"^\s*(def|class) {name}\b", source, re.M), f"{path}::{name}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_docs_link_to_files_that_exist_and_never_outside_the_repository(doc):
    text = doc.read_text()
    assert "../shared" not in text
    for target in re.findall(r"\]\(([\w./-]+\.md)\)", text):
        assert (doc.parent / target).exists(), target
