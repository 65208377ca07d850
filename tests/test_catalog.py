"""Metadata format: the kit's own exercises are valid, and malformed entries get errors that say what to fix."""
import pytest

from ptquiz.catalog import Catalog, CatalogError, load_metadata, read_checks

from conftest import KIT

GOOD = (KIT / "graders" / "01_custom_module.toml").read_text(encoding="utf-8")


def test_every_kit_exercise_has_valid_complete_metadata():
    cat = Catalog(KIT)
    assert not cat.errors, "\n".join(cat.errors)
    assert len(cat) >= 1
    for ex in cat:
        assert ex.title["en"] and ex.title["zh"] and ex.prompt["en"] and ex.prompt["zh"]
        assert len(ex.hints) >= 2
        assert ex.grader_path.exists() and ex.solution_path.exists() and ex.exercise_path.exists()
        checks = read_checks(ex.grader_path)
        assert checks, f"{ex.grader_path} has no @check"
        assert {c.category for c in checks} <= {"shape", "gradient", "training", "device", "correctness"}
        assert any(c.category == "device" for c in checks), f"{ex.name}: every grader needs a device check"


@pytest.mark.parametrize("edit, field, fix", [
    (lambda s: s.replace("format_version = 2", "format_version = 7"), "format_version", "format_version = 2"),
    (lambda s: s.split("[explanation]")[0], "explanation", "[explanation]"),
    (lambda s: s.replace("[seed_analysis]", "[seed_analysis_]"), "seed_analysis", "[seed_analysis]"),
    (lambda s: "[[followups]]".join(s.split("[[followups]]")[:3]), "followups", "at least 3"),
    (lambda s: s.replace("answer.zh", "answer.fr", 1), "followups[1].answer.zh", "Chinese"),
    (lambda s: s.replace('zh = "自定义 nn.Module"', ""), "title.zh", "Chinese"),
    (lambda s: s.replace("number = 1", "number = 4"), "number/slug", "rename"),
    (lambda s: s.split("[[hints]]")[0] + "[[hints]]" + s.split("[[hints]]")[1], "hints", "two or more"),
    (lambda s: s.replace("difficulty = 1", "difficulty = 9"), "difficulty", "1 (warm-up)"),
    (lambda s: s.replace('topics = ["nn.Module", "nn.Linear", "parameter registration"]', "topics = 3"), "topics", "topics = ["),
])
def test_malformed_metadata_names_file_field_and_fix(tmp_path, edit, field, fix):
    (tmp_path / "graders").mkdir()
    path = tmp_path / "graders" / "01_custom_module.toml"
    path.write_text(edit(GOOD), encoding="utf-8")
    with pytest.raises(CatalogError) as e:
        load_metadata(path, tmp_path)
    msg = str(e.value)
    assert str(path) in msg and f"'{field}'" in msg and fix in msg, msg


def test_bad_toml_and_bad_names(tmp_path):
    (tmp_path / "graders").mkdir()
    bad = tmp_path / "graders" / "01_custom_module.toml"
    bad.write_text("title = [", encoding="utf-8")
    with pytest.raises(CatalogError, match="not valid TOML"):
        load_metadata(bad, tmp_path)
    odd = tmp_path / "graders" / "Custom.toml"
    odd.write_text(GOOD, encoding="utf-8")
    with pytest.raises(CatalogError, match="NN_slug"):
        load_metadata(odd, tmp_path)


def test_catalog_collects_errors_and_duplicates_instead_of_crashing(tmp_path):
    from conftest import write_pack
    root = write_pack(tmp_path, numbers=(1, 2))
    (root / "graders" / "03_broken.toml").write_text("format_version = 1\n", encoding="utf-8")
    dup = (root / "graders" / "02_custom_module_2.toml").read_text(encoding="utf-8")
    (root / "graders" / "02_other.toml").write_text(dup.replace('slug = "custom_module_2"', 'slug = "other"'), encoding="utf-8")
    cat = Catalog(root)
    assert sorted(cat.exercises) == [1, 2]
    assert any("03_broken.toml" in e for e in cat.errors)
    assert any("already used" in e for e in cat.errors)
    with pytest.raises(CatalogError, match="Valid numbers: 1, 2"):
        cat.get(99)


def test_checks_need_literal_points_and_known_categories(tmp_path):
    g = tmp_path / "test_x.py"
    g.write_text("from ptquiz.gradelib import check\nP=2\n@check(points=P, category='shape')\ndef test_a(ex):\n    pass\n")
    with pytest.raises(CatalogError, match="literal"):
        read_checks(g)
    g.write_text("from ptquiz.gradelib import check\n@check(points=2, category='speed')\ndef test_a(ex):\n    pass\n")
    with pytest.raises(CatalogError, match="not one of"):
        read_checks(g)
    g.write_text("from ptquiz.gradelib import check\n@check(points=3, category='shape')\ndef test_a(ex):\n"
                 "    '''Title.\n    zh: 标题。\n    '''\n")
    (c,) = read_checks(g)
    assert (c.points, c.category, c.title) == (3, "shape", {"en": "Title.", "zh": "标题。"})


def test_a_course_pack_configured_in_pyproject_joins_the_catalog(tmp_path):
    from conftest import write_pack
    root = write_pack(tmp_path / "proj", numbers=(1,))
    course = write_pack(tmp_path / "proj" / "course", numbers=(2,))
    (course / "pyproject.toml").unlink()
    (root / "pyproject.toml").write_text('[tool.pt-quiz]\npacks = ["course"]\n')
    cat = Catalog(root)
    assert sorted(cat.exercises) == [1, 2] and not cat.errors
    assert cat.get(2).exercise_path == course / "exercises" / "02_custom_module_2.py"
    (root / "pyproject.toml").write_text('[tool.pt-quiz]\npacks = "course"\n')
    with pytest.raises(CatalogError, match="tool.pt-quiz.packs"):
        Catalog(root)
    (root / "pyproject.toml").write_text('[tool.pt-quiz]\npacks = ["nowhere"]\n')
    assert any("not a pack" in e for e in Catalog(root).errors)


def test_duplicate_check_names_and_non_integer_points_are_refused(tmp_path):
    g = tmp_path / "test_x.py"
    body = "@check(points=2, category='shape')\ndef test_a(ex):\n    pass\n"
    g.write_text("from ptquiz.gradelib import check\n" + body + body)
    with pytest.raises(CatalogError, match="second check named test_a"):
        read_checks(g)
    g.write_text("from ptquiz.gradelib import check\n@check(points=True, category='shape')\ndef test_a(ex):\n    pass\n")
    with pytest.raises(CatalogError, match="positive integer"):
        read_checks(g)
    g.write_bytes(b"\xff\xfe bad")
    with pytest.raises(CatalogError, match="UTF-8"):
        read_checks(g)


def test_version_1_metadata_still_loads_without_the_debrief_fields(tmp_path):
    (tmp_path / "graders").mkdir()
    path = tmp_path / "graders" / "01_custom_module.toml"
    path.write_text(GOOD.replace("format_version = 2", "format_version = 1").split("[explanation]")[0], encoding="utf-8")
    ex = load_metadata(path, tmp_path)
    assert ex.format_version == 1 and ex.explanation is None and ex.followups == []


def test_validate_asks_for_the_upgrade_of_a_version_1_file(tmp_path):
    from ptquiz.validate import Report, check_metadata
    (tmp_path / "graders").mkdir()
    path = tmp_path / "graders" / "01_custom_module.toml"
    path.write_text(GOOD.replace("format_version = 2", "format_version = 1").split("[explanation]")[0], encoding="utf-8")
    rep = Report()
    check_metadata(load_metadata(path, tmp_path), rep)
    assert len(rep.findings) == 1 and "format_version 1" in rep.findings[0].problem
    assert "format_version = 2" in rep.findings[0].fix and "[[followups]]" in rep.findings[0].fix
    path.write_text(GOOD, encoding="utf-8")
    rep = Report()
    check_metadata(load_metadata(path, tmp_path), rep)
    assert not rep.findings
