"""Many rows written in one statement whose shared values are sent once.

A turn's start stores the person's question and an empty answer for every question a busy
process gathered (`turns.turns_start`), and gives new conversations their titles; once a
second every streaming answer's text is checkpointed (`checkpoints`). `bulk_create`
prepares and sends every field of every row: for 200 questions, 400 rows of 20 fields, most of
them the same in every row; an UPDATE with a `CASE WHEN` per row costs Django ~0.2 ms a row to
build. Both were most of the start's time on the database thread the event loop shares the
interpreter with. Here only the values that differ travel per row (PostgreSQL:
`INSERT ... SELECT ... FROM unnest(...)`, `UPDATE ... FROM unnest(...)`); other databases keep
`bulk_create` and `CASE WHEN`.
"""

import copy
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from django.db import connections, models, router
from django.db.models import Case, F, Value, When

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


def update_each(
    model: type[models.Model],
    changes: Mapping[Any, Mapping[str, Any]],
    shared: Mapping[str, Any] | None = None,
    *,
    where: Mapping[str, Any] | None = None,
) -> int:
    """Update the rows whose primary keys are `changes`' keys and whose fields equal `where`:
    each with its own values (attribute name -> value; a row that leaves a field out keeps what
    the database holds, not what a loaded instance held) and all with `shared`, in one
    statement. Returns how many rows were updated. As `QuerySet.update`: no `save()`, no
    signals; auto_now fields change only if given."""
    shared = shared or {}
    where = where or {}
    names = sorted({name for values in changes.values() for name in values})
    by_name = {f.attname: f for f in model._meta.concrete_fields}
    assert set(names) | set(shared) | set(where) <= set(by_name), (names, shared, where)
    using = router.db_for_write(model)
    connection = connections[using]
    if not changes:
        return 0
    if connection.vendor != "postgresql":
        cases = {
            name: Case(
                *(
                    When(pk=pk, then=Value(values[name], output_field=by_name[name]))
                    for pk, values in changes.items()
                    if name in values
                ),
                default=F(name),
            )
            for name in names
        }
        rows = model._default_manager.db_manager(using).filter(pk__in=list(changes), **where)
        return rows.update(**shared, **cases)
    quote = connection.ops.quote_name
    pk = model._meta.pk
    assert pk is not None
    assignments: list[str] = []
    params: list[Any] = []
    for name, value in shared.items():
        field = by_name[name]
        assignments.append(f"{quote(field.column)} = %s::{field.db_type(connection)}")
        params.append(field.get_db_prep_save(value, connection))
    # Per field two arrays: the value, and whether this row sets it (NULL may be a value).
    arrays: list[tuple[str, list[Any]]] = [
        (f"{pk.db_type(connection)}[]", [pk.get_db_prep_save(key, connection) for key in changes])
    ]
    columns = ["pk"]
    for position, name in enumerate(names):
        field = by_name[name]
        column = quote(field.column)
        assignments.append(
            f"{column} = CASE WHEN u.set{position} THEN u.value{position} ELSE t.{column} END"
        )
        arrays.append(
            (
                f"{field.db_type(connection)}[]",
                [
                    field.get_db_prep_save(values[name], connection) if name in values else None
                    for values in changes.values()
                ],
            )
        )
        arrays.append(("boolean[]", [name in values for values in changes.values()]))
        columns += [f"value{position}", f"set{position}"]
    unnested = ", ".join(f"%s::{cast}" for cast, _values in arrays)
    conditions = [f"t.{quote(pk.column)} = u.pk"]
    condition_params: list[Any] = []
    for name, value in where.items():
        field = by_name[name]
        # As `filter(name=None)` elsewhere: None matches NULL.
        conditions.append(
            f"t.{quote(field.column)} IS NOT DISTINCT FROM %s::{field.db_type(connection)}"
        )
        condition_params.append(field.get_db_prep_value(value, connection))
    # Names from the model's _meta; every value is a parameter.
    sql = (
        f"UPDATE {quote(model._meta.db_table)} AS t SET {', '.join(assignments)} "  # noqa: S608
        f"FROM unnest({unnested}) AS u({', '.join(columns)}) "
        f"WHERE {' AND '.join(conditions)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *(values for _cast, values in arrays), *condition_params])
        return int(cursor.rowcount)
