"""A borrowed view of an array inside compiled code: the same data, shape and strides, without
the reference to its owner's memory.

Numba counts references to an array's memory with atomic operations, two for each array passed
to a function that is not inlined; the run kernel passes a dozen arrays to each layer's kernels
at every step, and those operations took a third of a step at batch 1 (a profile of online
training: 40% of the time in two instructions, the atomic increment and decrement). A
borrowed view has no owner reference, so its counting does nothing. It must not outlive the
array it borrows from: the kernels use them only within the call that received the arrays.
"""

from __future__ import annotations

from typing import Any

from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def borrowed(typingctx: Any, array: Any) -> Any:
    """``array`` without its memory owner (meminfo and parent set to null)."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        view = context.make_array(signature.return_type)(context, builder, value=args[0])
        view.meminfo = cgutils.get_null_value(view.meminfo.type)
        view.parent = cgutils.get_null_value(view.parent.type)
        return view._getvalue()

    return array(array), codegen
