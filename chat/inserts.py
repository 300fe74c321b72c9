"""Many rows alike, inserted in one statement whose shared values are sent once.

A turn's start stores the person's question and an empty answer for every question a busy
process gathered (`turns.turns_start`). `bulk_create` prepares and sends every field of every
row: for 200 questions, 400 rows of 20 fields, most of them the same in every row, and most of
the start's time on the database thread the event loop shares the interpreter with. Here only
the fields that differ travel per row (PostgreSQL: `INSERT ... SELECT ... FROM unnest(...)`);
other databases keep `bulk_create`.
"""

import copy
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from django.db import connections, models, router

M = TypeVar("M", bound=models.Model)


def insert_alike(template: M, varying: Mapping[str, Sequence[Any]]) -> list[M]:
    """Insert one row per position of `varying` (attribute name -> one value per row): each row
    is `template` (not saved; defaults and auto_now fields as on save) with those values. Returns
    the saved instances, in order, with their primary keys."""
    model = type(template)
    rows = len(next(iter(varying.values())))
    assert all(len(values) == rows for values in varying.values())
    assert set(varying) <= {f.attname for f in model._meta.concrete_fields}, set(varying)
    using = router.db_for_write(model)
    connection = connections[using]
    if connection.vendor != "postgresql" or not rows:
        return model._default_manager.db_manager(using).bulk_create(
            _instance(template, {name: values[i] for name, values in varying.items()})
            for i in range(rows)
        )
    quote = connection.ops.quote_name
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    shared: dict[str, Any] = {}
    selected: list[str] = []
    params: list[Any] = []
    arrays: list[tuple[str, str | None, list[Any]]] = []
    for field in fields:
        quoted = quote(field.column)
        if field.attname in varying:
            values = [field.get_db_prep_save(v, connection) for v in varying[field.attname]]
            arrays.append((quoted, field.db_type(connection), values))
            selected.append(f"u.{quoted}")
        else:
            value = field.pre_save(template, add=True)  # auto_now(_add): the time, once
            shared[field.attname] = value
            selected.append(f"%s::{field.db_type(connection)}")
            params.append(field.get_db_prep_save(value, connection))
    unnested = ", ".join(f"%s::{cast}[]" for _column, cast, _values in arrays)
    names = ", ".join(column for column, _cast, _values in arrays)
    pk = model._meta.pk
    assert pk is not None
    table, columns = quote(model._meta.db_table), ", ".join(quote(f.column) for f in fields)
    # Names from the model's _meta; every value is a parameter.
    sql = (
        f"INSERT INTO {table} ({columns}) SELECT {', '.join(selected)} "  # noqa: S608
        f"FROM unnest({unnested}) WITH ORDINALITY AS u({names}, position) ORDER BY u.position "
        f"RETURNING {quote(pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *(values for _column, _cast, values in arrays)])
        keys = [row[0] for row in cursor.fetchall()]
    # As loaded from the database (`from_db`: positional, the fast way to build a model).
    attnames = [f.attname for f in model._meta.concrete_fields]
    row = [shared.get(name) for name in attnames]
    slots = [(attnames.index(name), values) for name, values in varying.items()]
    pk_slot = attnames.index(pk.attname)
    # Each instance its own dict or list (a JSONField's default), as `template` would be.
    mutable = [(i, value) for i, value in enumerate(row) if isinstance(value, (dict, list))]
    saved = []
    for i, key in enumerate(keys):
        row[pk_slot] = key
        for slot, column in slots:
            row[slot] = column[i]
        for slot, value in mutable:
            row[slot] = copy.deepcopy(value)
        saved.append(model.from_db(using, attnames, tuple(row)))
    return saved


def _instance(template: M, values: Mapping[str, Any]) -> M:
    """`template` with `values`, its own copy of each dict or list (a JSONField's default)."""
    fields = template._meta.concrete_fields
    return type(template)(
        *[
            values[f.attname]
            if f.attname in values
            else copy.deepcopy(getattr(template, f.attname))
            for f in fields
        ]
    )
