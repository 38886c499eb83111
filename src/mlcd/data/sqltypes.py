"""Arrow types for SQL results, from what the database says about their columns."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa
    import sqlalchemy as sa

_VIEW = "mlcd_query_types"  # a temporary view of a fresh connection: no name to collide with


def read_as_text(conn: sa.Connection) -> None:
    """Have psycopg 3 return json, jsonb and uuid values as the text PostgreSQL prints.

    Parsed JSON would arrive as dicts (typed as a struct that changes with the keys), and
    encoding it again would not give back the stored text (`1.0e2`, key order, JSON null).
    """
    if conn.dialect.name != "postgresql":
        return
    adapters = getattr(conn.connection.driver_connection, "adapters", None)
    if adapters is None:  # not psycopg 3: values of these types are typed by their values
        return
    from psycopg.types.string import TextLoader

    for name in ("json", "jsonb", "uuid"):
        adapters.register_loader(name, TextLoader)


def column_types(
    conn: sa.Connection, result: sa.CursorResult[Any], query: str, table: str | None
) -> list[pa.DataType | None]:
    """The Arrow type of each result column; None where the database says nothing useful.

    A `table`'s columns have the types it declares. A query's columns are described by the
    driver: psycopg gives PostgreSQL's type of each result column (and a numeric's precision and
    scale), expressions included. SQLite's cursor describes names only, so SQLite is asked for
    the columns of a temporary view over the query: a column taken straight from a table column
    has its declared type, an expression (`amount * 2`, `count(*)`) has none and is typed by
    its values. Other databases type query results by their values.
    """
    names = list(result.keys())
    if table:
        declared = _table_types(conn, table)
        return [declared.get(name) for name in names]
    if conn.dialect.name == "postgresql":
        return [_pg_arrow_type(d[1], d[4], d[5]) for d in result.cursor.description]
    if conn.dialect.name == "sqlite":
        return _view_types(conn, query, len(names))
    return [None] * len(names)


def to_array(values: tuple[Any, ...], declared: pa.DataType | None) -> pa.Array:
    """Values as an Arrow array of their declared type, if they fit it without changing.

    Integers and floats in a decimal column (SQLite stores `numeric(10, 2)` values as either)
    take the decimal when every one converts exactly: its shortest decimal text fits the
    precision and scale (1.25 fits decimal(10, 2), 1.255 does not). Otherwise the values keep
    their own type, as any value that does not fit its declared type does.
    """
    import pyarrow as pa

    try:
        array = pa.array(values)
    except (pa.ArrowException, TypeError, ValueError):  # mixed kinds (SQLite): as text
        array = pa.array([None if v is None else str(v) for v in values], pa.string())
    if declared is None:
        return array
    if pa.types.is_decimal(declared) and _is_number(array.type):
        exact = _exact_decimals(values, declared)
        return array if exact is None else exact
    if not _same_kind(array.type, declared):
        return array
    try:
        return array.cast(declared)  # a safe cast: a value it would change raises instead
    except pa.ArrowException:
        return array


def _is_number(values: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(values) or pa.types.is_floating(values))


def _exact_decimals(values: tuple[Any, ...], declared: pa.Decimal128Type) -> pa.Array | None:
    # Arrow's float-to-decimal cast rounds (1.255 becomes 1.25): decide each value in Python
    import decimal

    import pyarrow as pa

    # quantize() to the scale raises Inexact when it would round, and InvalidOperation when
    # the result needs more digits than the precision (or the value is not finite)
    context = decimal.Context(
        prec=declared.precision, traps=[decimal.Inexact, decimal.InvalidOperation]
    )
    quantum = decimal.Decimal(1).scaleb(-declared.scale)
    out: list[decimal.Decimal | None] = []
    try:
        for v in values:
            if v is None:
                out.append(None)
                continue
            d = decimal.Decimal(v if isinstance(v, int) else repr(float(v)))
            if not d.is_finite():  # a quiet NaN passes quantize() without a signal
                return None
            out.append(d.quantize(quantum, context=context))
    except (decimal.Inexact, decimal.InvalidOperation):
        return None
    return pa.array(out, declared)


def _same_kind(values: pa.DataType, declared: pa.DataType) -> bool:
    # pa.array(values, declared) truncates 1.5 to 1 and reads 1.5 as a date; SQLite keeps any
    # value in any column, so the declared type applies only to values of its kind
    import pyarrow as pa

    t = pa.types
    if t.is_null(values) or (t.is_integer(values) and t.is_floating(declared)):
        return True
    kinds = [t.is_boolean, t.is_integer, t.is_floating, t.is_decimal, t.is_timestamp, t.is_date]
    kinds += [t.is_string, t.is_binary]
    return any(kind(values) and kind(declared) for kind in kinds)


def _table_types(conn: sa.Connection, table: str) -> dict[str, pa.DataType]:
    import sqlalchemy as sa

    try:
        columns = sa.inspect(conn).get_columns(table)
    except sa.exc.NoSuchTableError:  # found by the query, not by reflection: typed by values
        return {}
    return {c["name"]: arrow for c in columns if (arrow := _arrow_type(c["type"])) is not None}


def _view_types(conn: sa.Connection, query: str, count: int) -> list[pa.DataType | None]:
    import sqlalchemy as sa

    try:  # SQL that cannot be a view (a PRAGMA, two statements) is typed by its values
        conn.execute(sa.text(f'CREATE TEMP VIEW "{_VIEW}" AS {query}'))
    except sa.exc.SQLAlchemyError:
        return [None] * count
    try:
        columns = sa.inspect(conn).get_columns(_VIEW, schema="temp")
    finally:
        conn.execute(sa.text(f'DROP VIEW temp."{_VIEW}"'))
    if len(columns) != count:
        return [None] * count
    return [_arrow_type(c["type"]) for c in columns]


@functools.cache
def _pg_types() -> dict[int, Any]:
    """SQLAlchemy types of PostgreSQL's built-in type OIDs, as the table path would reflect them."""
    import sqlalchemy as sa

    text = sa.String()
    return {
        16: sa.Boolean(),
        17: sa.LargeBinary(),  # bytea
        20: sa.BigInteger(),
        21: sa.SmallInteger(),
        23: sa.Integer(),
        700: sa.Float(),  # float4: psycopg gives Python floats, float64 holds them exactly
        701: sa.Float(),
        1082: sa.Date(),
        1114: sa.DateTime(),
        1184: sa.DateTime(timezone=True),
        19: text,  # name
        25: text,
        1042: text,  # char(n)
        1043: text,  # varchar
        114: text,  # json, jsonb and uuid arrive as text (read_as_text)
        3802: text,
        2950: text,
    }


def _pg_arrow_type(oid: Any, precision: int | None, scale: int | None) -> pa.DataType | None:
    import sqlalchemy as sa

    if oid == 1700:  # numeric: unconstrained (also sum() and avg() of numerics) has no p and s
        return _arrow_type(sa.Numeric(precision, scale))
    return _arrow_type(_pg_types().get(oid))


def _arrow_type(sql_type: Any) -> pa.DataType | None:
    """The Arrow type of a SQLAlchemy column type; None to type the column by its values."""
    import pyarrow as pa
    import sqlalchemy as sa

    if isinstance(sql_type, sa.Boolean):
        return pa.bool_()
    if isinstance(sql_type, sa.Integer):
        return pa.int64()
    if isinstance(sql_type, sa.Float):
        return pa.float64()
    if isinstance(sql_type, sa.Numeric):
        precision, scale = sql_type.precision, sql_type.scale
        # Parquet takes no negative scale nor one above the precision (PostgreSQL 15 does)
        if precision and scale is not None and 0 <= scale <= precision <= 38:
            return pa.decimal128(precision, scale)
        return None
    if isinstance(sql_type, sa.DateTime):
        return pa.timestamp("us", tz="UTC" if sql_type.timezone else None)
    if isinstance(sql_type, sa.Date):
        return pa.date32()
    if isinstance(sql_type, sa.String | sa.JSON | sa.Uuid):  # Text, VARCHAR, Enum; JSON as text
        return pa.string()
    if isinstance(sql_type, sa.LargeBinary):
        return pa.binary()
    return None
