"""Model instances from SQL written once, read exactly as Django's ORM reads them.

Django compiles every queryset to SQL anew. For a lookup that every API request makes (a token and
its user: a join of two tables, 20 columns) that compiling cost 1.4 ms of CPU on a 2-core machine,
three times the rest of the lookup. A ModelColumns lists a model's columns once, from the model's own
fields, so a field added later is read too; its rows go through the converters the ORM applies
(booleans and time zones on SQLite, JSON) and Model.from_db, as a queryset's rows do. The tests compare
every field with the ORM's on each database.
"""
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper


class ModelColumns:
    """The concrete columns of `model` under the table alias `alias`, in field order."""

    def __init__(self, model: type[models.Model], alias: str):
        self.model, self.alias = model, alias
        self.fields = list(model._meta.concrete_fields)
        self.attnames = [field.attname for field in self.fields]
        self._converters: dict[str, list] = {}  # by connection alias: they depend on the backend only

    def __len__(self) -> int:
        return len(self.fields)

    def table(self, connection: BaseDatabaseWrapper) -> str:
        quote = connection.ops.quote_name
        return f"{quote(self.model._meta.db_table)} {quote(self.alias)}"

    def column(self, connection: BaseDatabaseWrapper, name: str) -> str:
        """One column by field name: `alias`.`column`."""
        quote = connection.ops.quote_name
        return f"{quote(self.alias)}.{quote(self.model._meta.get_field(name).column)}"

    def select(self, connection: BaseDatabaseWrapper) -> str:
        quote = connection.ops.quote_name
        return ", ".join(f"{quote(self.alias)}.{quote(field.column)}" for field in self.fields)

    def converters(self, connection: BaseDatabaseWrapper) -> list:
        """[(index, expression, [converter, …])] for the columns that need converting, as
        SQLCompiler.get_converters makes them."""
        found = self._converters.get(connection.alias)
        if found is None:
            found = []
            for index, field in enumerate(self.fields):
                column = field.get_col(self.alias)
                functions = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
                if functions:
                    found.append((index, column, functions))
            self._converters[connection.alias] = found
        return found

    def instance(self, connection: BaseDatabaseWrapper, row, start: int = 0) -> models.Model:
        """The instance in row[start:start + len(self)]."""
        values = list(row[start:start + len(self.fields)])
        for index, column, functions in self.converters(connection):
            value = values[index]
            for convert in functions:
                value = convert(value, column, connection)
            values[index] = value
        return self.model.from_db(connection.alias, self.attnames, values)
