"""Signed attestations and SBOMs of releases."""
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("releases", "0021_build_once"),
    ]

    operations = [
        migrations.CreateModel(
            name="ReleaseEvidence",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("release", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="evidence",
                                              to="releases.release")),
                ("build", models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name="+",
                                               to="releases.build")),
                ("subject_name", models.CharField(help_text="The image repository the attestation names.",
                                                  max_length=512)),
                ("subject_digest", models.CharField(db_index=True, help_text="sha256:… of the image manifest.",
                                                    max_length=71)),
                ("predicate_type", models.CharField(max_length=255)),
                ("key_id", models.CharField(help_text="SHA-256 of the signing public key (DER).", max_length=64)),
                ("envelope", models.TextField(help_text="The DSSE envelope, as signed and served.")),
                ("envelope_digest", models.CharField(max_length=71)),
                ("sbom", models.TextField(help_text="The CycloneDX 1.6 JSON SBOM, as digested and served.")),
                ("sbom_digest", models.CharField(max_length=71)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("push_state", models.CharField(choices=[("pending", "Pending"), ("pushed", "Pushed"),
                                                         ("skipped", "Skipped")],
                                                db_index=True, default="pending", max_length=8)),
                ("push_attempts", models.PositiveIntegerField(default=0)),
                ("push_next_at", models.DateTimeField(blank=True, help_text="When the sweep may try again.",
                                                      null=True)),
                ("push_lease_expires_at", models.DateTimeField(blank=True, null=True)),
                ("push_mode", models.CharField(blank=True, help_text="referrers (OCI 1.1) or tag (cosign .att).",
                                               max_length=16)),
                ("pushed_at", models.DateTimeField(blank=True, null=True)),
                ("pushed", models.JSONField(blank=True, default=dict,
                                            help_text="What landed where: manifest digests and tags.")),
                ("push_error", models.CharField(blank=True, max_length=500)),
            ],
            options={"verbose_name_plural": "release evidence", "ordering": ["-created_at", "-id"]},
        ),
    ]
