"""Model versions: exactly one active, the admin's activate action and bundle upload, register_model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from bundle_factory import build_bundle, zip_dir
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.test import Client

from predictions.models import ModelVersion
from predictions.pipeline import registry

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(make_user) -> Client:
    client = Client()
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    return client


@pytest.fixture(scope="module")
def second_bundle(tmp_path_factory) -> Path:
    return build_bundle(tmp_path_factory.mktemp("second") / "bundle", name="second", seed=7)


def test_registering_the_same_bundle_twice_is_a_no_op(tiny_bundle, capsys):
    call_command("register_model", str(tiny_bundle))
    call_command("register_model", str(tiny_bundle), "--activate")
    assert ModelVersion.objects.count() == 1
    version = ModelVersion.objects.get()
    assert version.is_active and version.name == "tiny" and version.metrics["accuracy"] == 0.5
    assert "already registered" in capsys.readouterr().out


def test_register_model_refuses_a_tampered_bundle_with_the_reason(tiny_bundle, tmp_path):
    bad = shutil.copytree(tiny_bundle, tmp_path / "bad")
    (bad / "labels.json").write_text(json.dumps(["x"] * 8))
    with pytest.raises(Exception, match="does not match its manifest checksum"):
        call_command("register_model", str(bad))
    assert not ModelVersion.objects.exists()


def test_exactly_one_version_is_active(tiny_bundle, second_bundle):
    first, _ = registry.register_bundle(tiny_bundle)
    second, _ = registry.register_bundle(second_bundle)
    assert first.is_active and not ModelVersion.objects.get(pk=second.pk).is_active
    second.activate()
    assert list(ModelVersion.objects.filter(is_active=True)) == [second]
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=first.pk).update(is_active=True)


def test_the_admin_activate_action_switches_the_active_version(admin_client, tiny_bundle, second_bundle):
    first, _ = registry.register_bundle(tiny_bundle)
    second, _ = registry.register_bundle(second_bundle)
    url = "/admin/predictions/modelversion/"
    response = admin_client.post(url, {"action": "activate", "_selected_action": [second.pk]}, follow=True)
    assert "is now the active model" in response.content.decode()
    assert ModelVersion.objects.get(is_active=True) == second
    response = admin_client.post(url, {"action": "activate", "_selected_action": [first.pk, second.pk]}, follow=True)
    assert "Select exactly one" in response.content.decode()
    assert ModelVersion.objects.get(is_active=True) == second


def test_the_admin_warns_before_activating_a_model_with_worse_figures(admin_client, tiny_bundle, tmp_path):
    from mlcore.serving.smoke import build_test_bundle

    active, _ = registry.register_bundle(tiny_bundle)  # right 50% of the time on its test set
    worse, _ = registry.register_bundle(
        build_test_bundle(tmp_path / "worse", name="worse", seed=3, metrics={"accuracy": 0.3})
    )
    url = "/admin/predictions/modelversion/"
    response = admin_client.post(url, {"action": "activate", "_selected_action": [worse.pk]})
    page = response.content.decode()
    assert response.status_code == 200 and "Activate a model with worse figures?" in page
    assert "right 30% of the time" in page and "right 50% of the time" in page
    assert ModelVersion.objects.get(is_active=True) == active
    response = admin_client.post(
        url, {"action": "activate", "_selected_action": [worse.pk], "confirm": "yes"}, follow=True
    )
    assert "is now the active model" in response.content.decode()
    assert ModelVersion.objects.get(is_active=True) == worse
    # Back to the better one: no question asked.
    admin_client.post(url, {"action": "activate", "_selected_action": [active.pk]})
    assert ModelVersion.objects.get(is_active=True) == active


def test_the_admin_marks_the_shipped_default_and_fast_models_and_shows_the_public_figure(admin_client, shipped):
    call_command("register_model", "--default")
    page = admin_client.get("/admin/predictions/modelversion/").content.decode()
    assert "Default model" in page and "Fast model" in page
    default = ModelVersion.objects.get(name="tiny")
    assert registry.shipped_role(default) == "default"
    assert registry.shipped_role(ModelVersion.objects.get(name="second")) == "fast"
    public = admin_client.get(f"/models/{default.pk}/").content.decode()
    assert "right 50% of the time" in public and ">50%<" in page
    change = admin_client.get(f"/admin/predictions/modelversion/{default.pk}/change/").content.decode()
    assert 'id="metric-accuracy">50%</dd>' in change


def test_the_admin_registers_an_uploaded_bundle_after_checking_it(admin_client, tiny_bundle, second_bundle, settings):
    registry.register_bundle(tiny_bundle)
    upload = SimpleUploadedFile("second.zip", zip_dir(second_bundle), content_type="application/zip")
    response = admin_client.post("/admin/predictions/modelversion/add/", {"bundle_zip": upload})
    assert response.status_code == 302, response.content.decode()[:2000]
    version = ModelVersion.objects.get(name="second")
    assert not version.is_active and version.path.is_relative_to(settings.MODEL_ROOT)
    assert (version.path / "manifest.json").is_file()
    page = admin_client.get(f"/admin/predictions/modelversion/{version.pk}/change/")
    assert page.context["model_metrics"].confusion.rows[0][0] == 1 and page.context["prediction_count"] == 0


def test_the_admin_refuses_a_tampered_bundle_with_the_reason(admin_client, second_bundle, tmp_path, settings):
    bad = shutil.copytree(second_bundle, tmp_path / "tampered")
    (bad / "metrics.json").write_text('{"accuracy": 0.99}\n')
    upload = SimpleUploadedFile("tampered.zip", zip_dir(bad), content_type="application/zip")
    response = admin_client.post("/admin/predictions/modelversion/add/", {"bundle_zip": upload})
    assert response.status_code == 200
    assert "Bundle refused" in response.content.decode() and "checksum" in response.content.decode()
    assert not ModelVersion.objects.exists()
    assert not any(Path(settings.MODEL_ROOT).glob("*/manifest.json"))


def test_the_admin_refuses_a_zip_that_is_not_a_bundle(admin_client):
    upload = SimpleUploadedFile("x.zip", b"PK\x05\x06" + b"\0" * 18, content_type="application/zip")
    response = admin_client.post("/admin/predictions/modelversion/add/", {"bundle_zip": upload})
    assert response.status_code == 200 and "Bundle refused" in response.content.decode()


def test_jobs_files_and_predictions_are_read_only_in_the_admin(admin_client, alice, make_prediction, model_version):
    happy = make_prediction(alice, model=model_version, emotion="happy")
    sad = make_prediction(alice, model=model_version, emotion="sad")
    listing = admin_client.get("/admin/predictions/prediction/?top_emotion=happy&uncertain__exact=0")
    assert [p.pk for p in listing.context["cl"].result_list] == [happy.pk]  # the filters filter
    page = admin_client.get(f"/admin/predictions/prediction/{sad.pk}/change/")
    assert page.status_code == 200 and not page.context["has_change_permission"]
    assert admin_client.get("/admin/predictions/job/add/").status_code == 403
    files = admin_client.get("/admin/predictions/audiofile/?status=done")
    assert {f.pk for f in files.context["cl"].result_list} == {happy.file_id, sad.file_id}
    assert not admin_client.get("/admin/predictions/audiofile/?status=failed").context["cl"].result_list


@pytest.fixture
def shipped(monkeypatch, tiny_bundle, second_bundle) -> tuple[Path, Path]:
    """Two small distinct bundles in place of the shipped ones: tiny as the default, second as the fast."""
    monkeypatch.setattr(
        registry,
        "SHIPPED_BUNDLES",
        (registry.ShippedBundle(tiny_bundle, active=True), registry.ShippedBundle(second_bundle, active=False)),
    )
    return tiny_bundle, second_bundle


def test_setup_registers_every_shipped_bundle_with_only_the_default_active(shipped, settings):
    settings.REGISTER_DEFAULT_MODEL = True
    registry.register_default_bundle_on_first_setup()
    assert sorted(ModelVersion.objects.values_list("name", "is_active")) == [("second", False), ("tiny", True)]
    registry.register_default_bundle_on_first_setup()  # a second migrate changes nothing
    assert ModelVersion.objects.count() == 2


def test_register_model_default_registers_the_shipped_bundles_and_keeps_the_admins_choice(shipped, capsys):
    call_command("register_model", "--default")
    out = capsys.readouterr().out
    assert "registered: tiny (stats-mlp)" in out and "(active)" in out.splitlines()[0]
    assert "registered: second (stats-mlp)" in out and "(active)" not in out.splitlines()[1]
    fast = ModelVersion.objects.get(name="second")
    fast.activate()  # an admin switches to the fast model; a later deploy must not switch back
    call_command("register_model", "--default")
    assert ModelVersion.objects.get(is_active=True) == fast and ModelVersion.objects.count() == 2
    call_command("register_model", "--default", "--activate")
    assert ModelVersion.objects.get(is_active=True).name == "tiny"


def test_a_shipped_bundle_identical_to_another_is_registered_once(monkeypatch, tiny_bundle, tmp_path, capsys):
    copy = shutil.copytree(tiny_bundle, tmp_path / "fast")
    monkeypatch.setattr(
        registry,
        "SHIPPED_BUNDLES",
        (registry.ShippedBundle(tiny_bundle, active=True), registry.ShippedBundle(copy, active=False)),
    )
    call_command("register_model", "--default")
    version = ModelVersion.objects.get()
    assert version.is_active and version.path == tiny_bundle
    assert f"fast: already registered (same content as {version.bundle_path})" in capsys.readouterr().out


def test_a_broken_shipped_bundle_is_reported_and_the_others_still_registered(
    monkeypatch, tiny_bundle, second_bundle, tmp_path, settings, caplog
):
    broken = shutil.copytree(tiny_bundle, tmp_path / "broken")
    (broken / "labels.json").write_text("[]\n")
    monkeypatch.setattr(
        registry,
        "SHIPPED_BUNDLES",
        (registry.ShippedBundle(broken, active=True), registry.ShippedBundle(second_bundle, active=False)),
    )
    settings.REGISTER_DEFAULT_MODEL = True
    registry.register_default_bundle_on_first_setup()
    assert "shipped model bundle" in caplog.text and "checksum" in caplog.text
    # Better a working model than none: on an empty registry the first bundle registered serves.
    assert list(ModelVersion.objects.values_list("name", "is_active")) == [("second", True)]
    with pytest.raises(Exception, match="Some shipped bundles were not registered:\nbroken: .*checksum"):
        call_command("register_model", "--default")


def test_the_repository_ships_a_default_bundle_that_is_activated_and_a_fast_one_that_is_not(db, settings):
    from mlcore.serving.bundle import load_bundle

    assert [(b.path.name, b.active) for b in registry.SHIPPED_BUNDLES] == [("default", True), ("fast", False)]
    if not all((b.path / "manifest.json").is_file() for b in registry.SHIPPED_BUNDLES):
        pytest.skip("the shipped bundles are not installed")
    settings.REGISTER_DEFAULT_MODEL = True
    registry.register_default_bundle_on_first_setup()
    active = ModelVersion.objects.get(is_active=True)
    assert active.bundle_path == "mlcore/models/default"
    # The fast bundle is registered as its own inactive version (the two bundles are different models).
    assert load_bundle(registry.FAST_BUNDLE).fingerprint != load_bundle(registry.DEFAULT_BUNDLE).fingerprint
    fast = ModelVersion.objects.get(fingerprint=load_bundle(registry.FAST_BUNDLE).fingerprint)
    assert not fast.is_active and fast.bundle_path == "mlcore/models/fast"


def test_the_shipped_bundle_is_not_registered_when_switched_off(db, settings):
    settings.REGISTER_DEFAULT_MODEL = False
    registry.register_default_bundle_on_first_setup()
    assert not ModelVersion.objects.exists()


def test_the_admin_lists_tokens_by_prefix_never_their_secret_and_can_revoke_one(admin_client, alice):
    from predictions.models.api import ApiToken

    token, raw = ApiToken.issue(alice, "laptop")
    listing = admin_client.get("/admin/predictions/apitoken/").content.decode()
    assert token.prefix in listing and raw not in listing and token.key_hash not in listing
    page = admin_client.get(f"/admin/predictions/apitoken/{token.pk}/change/").content.decode()
    assert raw not in page and token.key_hash not in page
    admin_client.post(f"/admin/predictions/apitoken/{token.pk}/delete/", {"post": "yes"})
    assert not ApiToken.objects.exists()
    assert Client().get("/api/v1/jobs", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401
