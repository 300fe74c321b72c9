"""The "Reviewers" group: exactly view + review, nothing that changes or deletes a transcript."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Reviewers"
PERMISSIONS = [
    ("chat", "view_conversation"),
    ("chat", "view_message"),
    ("chat", "view_toolcall"),
    ("review", "review_conversation"),
    ("review", "view_conversationreview"),
    ("review", "view_feedback"),
    ("review", "view_answerflag"),
    ("review", "view_reviewnote"),
    ("review", "view_reviewevent"),
    ("review", "view_staffaccess"),
]


def create_group(apps, schema_editor):
    # Permissions are normally created after all migrations (post_migrate): create them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    for app_label, codename in PERMISSIONS:
        group.permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("review", "0001_review_domain"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_group, remove_group)]
