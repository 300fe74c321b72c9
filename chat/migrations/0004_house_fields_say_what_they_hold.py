from django.db import migrations, models


class Migration(migrations.Migration):
    """Fields named for what they hold: a conversation's thread scope (not an engine name), the
    person-facing notice of an answer that ended early, and the staff-facing provider detail."""

    dependencies = [
        ("chat", "0003_message_versions"),
    ]

    operations = [
        migrations.RenameField(
            model_name="conversation",
            old_name="engine",
            new_name="thread_scope",
        ),
        migrations.AlterField(
            model_name="conversation",
            name="thread_scope",
            field=models.CharField(
                help_text="Which kind of provider thread provider_thread_id is (an engine's "
                "thread_scope, e.g. responses:conversation); another scope starts a new thread.",
                max_length=32,
            ),
        ),
        migrations.RenameField(
            model_name="message",
            old_name="error_detail",
            new_name="status_notice",
        ),
        migrations.AlterField(
            model_name="message",
            name="status_notice",
            field=models.TextField(
                blank=True,
                help_text="Shown to the person under an answer that ended early (interrupted or "
                "error).",
            ),
        ),
        migrations.AddField(
            model_name="message",
            name="provider_detail",
            field=models.TextField(
                blank=True,
                help_text="For staff: what the provider or the HTTP layer said when the turn "
                "failed.",
            ),
        ),
    ]
