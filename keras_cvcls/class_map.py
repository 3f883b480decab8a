"""``ClassMap``: the class names of a classifier in score order, one type for every classifier.

``ImageClassifier.class_map``, ``ScikitClassifier.class_map`` (and the scoring client's) return
it, so ``class_map[i]`` names score ``i`` whichever way a model was trained or is served.
"""

from collections.abc import Mapping, Sequence


class ClassMap(Sequence):
    """An immutable sequence of class names: ``class_map[i]`` names score column ``i``.

    It compares equal to a list or tuple of the same names, and :meth:`to_dict` gives
    cvtk's ``{id: name}`` class map (what a run folder's ``class_map.json`` holds).

    Args:
        names: the class names in score order: non-empty, unique, non-empty strings.

    Raises:
        ValueError: for an empty list, a name that is not a non-empty string, or a duplicate.

    Example:
        >>> class_map = ClassMap(["cat", "dog"])
        >>> class_map[1], class_map.index("cat"), class_map == ["cat", "dog"]
        ('dog', 0, True)
        >>> class_map.to_dict()
        {0: 'cat', 1: 'dog'}
    """

    __slots__ = ("_names",)

    def __init__(self, names):
        if isinstance(names, (str, bytes, Mapping)) or not isinstance(names, (Sequence, ClassMap)):
            raise ValueError(f"names must be a list of class names. Received: names={names!r}")
        names = tuple(names)
        if not names or not all(isinstance(name, str) and name for name in names):
            raise ValueError(f"names must be a non-empty list of non-empty strings. Received: names={list(names)!r}")
        if len(set(names)) != len(names):
            raise ValueError(f"names must be unique. Received: names={list(names)!r}")
        object.__setattr__(self, "_names", names)

    def __setattr__(self, name, value):
        raise AttributeError("ClassMap is immutable")

    @classmethod
    def from_dict(cls, mapping):
        """Builds a class map from cvtk's ``{id: name}`` (ids as ints or strings, 0..C-1).

        Raises:
            ValueError: when the ids are not exactly ``0 .. len(mapping) - 1``.

        Example:
            >>> ClassMap.from_dict({"1": "dog", "0": "cat"})
            ClassMap(['cat', 'dog'])
        """
        if not isinstance(mapping, Mapping):
            raise ValueError(f"mapping must be a dict {{id: name}}. Received: mapping={mapping!r}")
        try:
            by_id = {int(key): name for key, name in mapping.items()}
        except (TypeError, ValueError):
            by_id = {}
        if sorted(by_id) != list(range(len(mapping))) or not mapping:
            raise ValueError(f"mapping must have the ids 0 .. {len(mapping) - 1}. Received: mapping={mapping!r}")
        return cls([by_id[i] for i in range(len(by_id))])

    def __getitem__(self, index):
        if isinstance(index, slice):
            return list(self._names[index])
        return self._names[index]

    def __len__(self):
        return len(self._names)

    def __iter__(self):
        return iter(self._names)

    def __contains__(self, name):
        return name in self._names

    def index(self, name, *args):
        """The score column of ``name``.

        Raises:
            ValueError: naming the known classes, when ``name`` is not one.
        """
        if name not in self._names:
            raise ValueError(f"Unknown class. Expected one of {list(self._names)}. Received: name={name!r}")
        return self._names.index(name, *args)

    def __eq__(self, other):
        if isinstance(other, ClassMap):
            return self._names == other._names
        if isinstance(other, (list, tuple)):
            return self._names == tuple(other)
        return NotImplemented

    def __hash__(self):
        return hash(self._names)

    def __repr__(self):
        return f"ClassMap({list(self._names)!r})"

    def to_list(self):
        """The names as a list (JSON-able)."""
        return list(self._names)

    def to_dict(self):
        """cvtk's class map ``{id: name}``; ``json.dumps`` writes the ids as strings."""
        return dict(enumerate(self._names))
