"""Small text formatting shared across the package."""

__all__ = ["number_ranges"]


def number_ranges(numbers):
    """Integers as ranges: ``[1, 2, 3, 7]`` -> ``'1-3, 7'`` (sorted, duplicates kept apart)."""
    parts, numbers = [], sorted(numbers)
    i = 0
    while i < len(numbers):
        j = i
        while j + 1 < len(numbers) and numbers[j + 1] == numbers[j] + 1:
            j += 1
        parts.append(str(numbers[i]) if i == j else f"{numbers[i]}-{numbers[j]}")
        i = j + 1
    return ", ".join(parts)
