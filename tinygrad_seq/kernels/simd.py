"""A SIMD vector type for numba, and the atomics a spin barrier needs: the pieces of gemm.py and
sync.py that plain numba code cannot express.

Why a vector type: numba turns LLVM's SLP vectoriser off (numba issue 8705, a miscompilation),
and LLVM unrolls short constant loops before its loop vectoriser sees them, so a GEMM
micro-kernel written with scalar accumulators compiles to scalar FMAs (6 GFLOP/s on this
project's machine, where one core's vector peak is 117). Here a vector is an LLVM
`<W x float>` (or double) carried as a numba value: accumulators are SSA values, kept in
registers, and each `vfma` is one vector FMA.

    v = vload(a, i)           a's elements i .. i+W-1 (i counts elements from a's data pointer,
                              whatever a's shape and strides: the caller computes it)
    v = vload_first(a, i, n)  the same, only the first n lanes read (the others 0)
    vstore(a, i, v), vstore_first(a, i, v, n)
    v = vsplat(x)             W copies of a scalar (float32 or float64)
    v = vfma(a, b, c)         a * b + c with one rounding (llvm.fma)
    fma(x, y, z)              the same for scalars (float64 if one is): in a loop LLVM
                              vectorizes, one vector FMA, where x * y + z without fastmath
                              stays a multiply and an add (loops.py's tanh32)

W is width(dtype): 64 bytes of lanes where the CPU has AVX-512 (16 float32, 8 float64), else
32 bytes. LLVM splits wider vectors into registers on any target, so the code is portable;
only the register budget of gemm.py's tile is tuned (to AVX-512's 32 vector registers).

    prefetch(a, i)            start loading the cache line of a's element i into the L2 cache

For sync.py (int64 arrays; i counts elements as above):
    atomic_load_acquire(a, i), atomic_store_release(a, i, value), atomic_add(a, i, value)
    fence(), cpu_pause(), cycles() (the time-stamp counter), futex_wait(a, i, expected, ts),
    futex_wake(a, i), sched_yield(), HAS_FUTEX

None of these run without the JIT: under NUMBA_DISABLE_JIT=1 the callers use their numpy
twins and one thread (see gemm.py and threads.py).
"""
import platform
import sys

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

_AVX512 = llvm.get_host_cpu_features().get("avx512f", False)
VECTOR_BYTES = 64 if _AVX512 else 32
_X86 = platform.machine().lower() in ("x86_64", "amd64")
_SYS_FUTEX = {"x86_64": 202, "amd64": 202, "aarch64": 98}.get(platform.machine().lower())
HAS_FUTEX = sys.platform.startswith("linux") and _SYS_FUTEX is not None
_FUTEX_WAIT_PRIVATE, _FUTEX_WAKE_PRIVATE = 128, 129


def width(dtype):
    """Lanes of a vector of `dtype` (a numpy dtype or a numba float type)."""
    return VECTOR_BYTES // np.dtype(str(getattr(dtype, "__name__", dtype))).itemsize


class Vector(types.Type):
    """The numba type of a vector of `dtype` (types.float32 or types.float64)."""

    def __init__(self, dtype):
        self.dtype, self.lanes = dtype, width(dtype)
        super().__init__(name=f"vector({dtype} x {self.lanes})")


@register_model(Vector)
class _VectorModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _llvm_vector(fe_type))


def _llvm_vector(vector):
    element = ir.FloatType() if vector.dtype == types.float32 else ir.DoubleType()
    return ir.VectorType(element, vector.lanes)


def _float_array(a):
    return isinstance(a, types.Array) and a.dtype in (types.float32, types.float64)


def _pointer(context, builder, array_type, array, index):
    """The address of element `index` counted from the array's data pointer."""
    data = context.make_array(array_type)(context, builder, value=array).data
    return builder.gep(data, [index])


def _lane_mask(builder, lanes, n):
    """<lanes x i1>: lane j is on when j < n."""
    index = ir.Constant(ir.VectorType(ir.IntType(64), lanes), list(range(lanes)))
    splat = builder.shuffle_vector(
        builder.insert_element(ir.Constant(index.type, ir.Undefined), n,
                               ir.Constant(ir.IntType(32), 0)),
        ir.Constant(index.type, ir.Undefined),
        ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes))
    return builder.icmp_signed("<", index, splat)


def _masked(builder, name, vty, ret, args):
    suffix = f"v{vty.count}f{32 if isinstance(vty.element, ir.FloatType) else 64}"
    fnty = ir.FunctionType(ret, [a.type for a in args])
    return builder.call(cgutils.get_or_insert_function(builder.module, fnty,
                                                       f"llvm.masked.{name}.{suffix}.p0"), args)


# ------------------------------------------------------------------------------ vectors
@intrinsic
def vload(typingctx, a, i):
    if not _float_array(a):
        return None
    vector = Vector(a.dtype)

    def codegen(context, builder, signature, args):
        vty = _llvm_vector(vector)
        pointer = builder.bitcast(_pointer(context, builder, signature.args[0], *args),
                                  vty.as_pointer())
        return builder.load(pointer, align=a.dtype.bitwidth // 8, typ=vty)
    return vector(a, types.intp), codegen


@intrinsic
def vload_first(typingctx, a, i, n):
    if not _float_array(a):
        return None
    vector = Vector(a.dtype)

    def codegen(context, builder, signature, args):
        vty = _llvm_vector(vector)
        pointer = builder.bitcast(_pointer(context, builder, signature.args[0], args[0],
                                           args[1]), vty.as_pointer())
        mask = _lane_mask(builder, vector.lanes, args[2])
        align = ir.Constant(ir.IntType(32), a.dtype.bitwidth // 8)
        return _masked(builder, "load", vty, vty,
                       [pointer, align, mask, ir.Constant(vty, [0.0] * vector.lanes)])
    return vector(a, types.intp, types.intp), codegen


@intrinsic
def vstore(typingctx, a, i, v):
    if not (_float_array(a) and isinstance(v, Vector) and v.dtype == a.dtype):
        return None

    def codegen(context, builder, signature, args):
        vty = _llvm_vector(v)
        pointer = builder.bitcast(_pointer(context, builder, signature.args[0], args[0],
                                           args[1]), vty.as_pointer())
        builder.store(args[2], pointer, align=a.dtype.bitwidth // 8)
        return context.get_dummy_value()
    return types.void(a, types.intp, v), codegen


@intrinsic
def vstore_first(typingctx, a, i, v, n):
    if not (_float_array(a) and isinstance(v, Vector) and v.dtype == a.dtype):
        return None

    def codegen(context, builder, signature, args):
        vty = _llvm_vector(v)
        pointer = builder.bitcast(_pointer(context, builder, signature.args[0], args[0],
                                           args[1]), vty.as_pointer())
        mask = _lane_mask(builder, v.lanes, args[3])
        align = ir.Constant(ir.IntType(32), a.dtype.bitwidth // 8)
        _masked(builder, "store", vty, ir.VoidType(), [args[2], pointer, align, mask])
        return context.get_dummy_value()
    return types.void(a, types.intp, v, types.intp), codegen


@intrinsic
def vsplat(typingctx, x):
    if x not in (types.float32, types.float64):
        return None
    vector = Vector(x)

    def codegen(context, builder, signature, args):
        vty = _llvm_vector(vector)
        one = builder.insert_element(ir.Constant(vty, ir.Undefined), args[0],
                                     ir.Constant(ir.IntType(32), 0))
        return builder.shuffle_vector(one, ir.Constant(vty, ir.Undefined),
                                      ir.Constant(ir.VectorType(ir.IntType(32), vector.lanes),
                                                  [0] * vector.lanes))
    return vector(x), codegen


@intrinsic
def vfma(typingctx, a, b, c):
    if not (isinstance(a, Vector) and a == b == c):
        return None

    def codegen(context, builder, signature, args):
        vty = _llvm_vector(a)
        bits = 32 if a.dtype == types.float32 else 64
        fnty = ir.FunctionType(vty, [vty, vty, vty])
        fma = cgutils.get_or_insert_function(builder.module, fnty,
                                             f"llvm.fma.v{a.lanes}f{bits}")
        return builder.call(fma, args)
    return a(a, a, a), codegen


@intrinsic
def fma(typingctx, x, y, z):
    floats = (types.float32, types.float64)
    if not (x in floats and y in floats and z in floats):
        return None
    t = types.float64 if types.float64 in (x, y, z) else types.float32   # as x * y + z

    def codegen(context, builder, signature, args):
        args = [context.cast(builder, a, s, t) for a, s in zip(args, signature.args)]
        ty = context.get_value_type(t)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ty, [ty] * 3),
                                            f"llvm.fma.f{t.bitwidth}")
        return builder.call(fn, args)
    return t(x, y, z), codegen


@intrinsic
def prefetch(typingctx, a, i):
    """llvm.prefetch (read, locality 2: into L2) of the line holding a's element i."""
    if not isinstance(a, types.Array):
        return None

    def codegen(context, builder, signature, args):
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        pointer = builder.bitcast(_pointer(context, builder, signature.args[0], *args), i8p)
        builder.call(fn, [pointer, ir.Constant(i32, 0), ir.Constant(i32, 2), ir.Constant(i32, 1)])
        return context.get_dummy_value()
    return types.void(a, types.intp), codegen


# ------------------------------------------------------------------------------ atomics
def _int64_array(a):
    return isinstance(a, types.Array) and a.dtype == types.int64


@intrinsic
def atomic_load_acquire(typingctx, a, i):
    if not _int64_array(a):
        return None

    def codegen(context, builder, signature, args):
        return builder.load_atomic(_pointer(context, builder, signature.args[0], *args),
                                   "acquire", 8)
    return types.int64(a, types.intp), codegen


@intrinsic
def atomic_store_release(typingctx, a, i, value):
    if not _int64_array(a):
        return None

    def codegen(context, builder, signature, args):
        builder.store_atomic(args[2], _pointer(context, builder, signature.args[0], args[0],
                                               args[1]), "release", 8)
        return context.get_dummy_value()
    return types.void(a, types.intp, types.int64), codegen


@intrinsic
def atomic_add(typingctx, a, i, value):
    """a[i] += value atomically; returns the old value."""
    if not _int64_array(a):
        return None

    def codegen(context, builder, signature, args):
        return builder.atomic_rmw("add", _pointer(context, builder, signature.args[0], args[0],
                                                  args[1]), args[2], "seq_cst")
    return types.int64(a, types.intp, types.int64), codegen


@intrinsic
def fence(typingctx):
    """A full (sequentially consistent) memory fence."""
    def codegen(context, builder, signature, args):
        builder.fence("seq_cst")
        return context.get_dummy_value()
    return types.void(), codegen


@intrinsic
def cpu_pause(typingctx):
    """x86's `pause`, the spin-wait hint (nothing on other CPUs)."""
    def codegen(context, builder, signature, args):
        if _X86:
            fnty = ir.FunctionType(ir.VoidType(), [])
            builder.call(cgutils.get_or_insert_function(builder.module, fnty,
                                                        "llvm.x86.sse2.pause"), [])
        return context.get_dummy_value()
    return types.void(), codegen


@intrinsic
def cycles(typingctx):
    """The CPU's cycle (time-stamp) counter, for shares of time inside a jitted loop."""
    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.IntType(64), [])
        return builder.call(cgutils.get_or_insert_function(builder.module, fnty,
                                                           "llvm.readcyclecounter"), [])
    return types.int64(), codegen


# ------------------------------------------------------------------------------ system calls
# libc functions declared by name (the JIT resolves them in the process), not through ctypes
# addresses, so that functions calling them can be cached on disk.
def _libc(builder, name, ret, args, var_arg=False):
    fnty = ir.FunctionType(ret, args, var_arg=var_arg)
    return cgutils.get_or_insert_function(builder.module, fnty, name)


@intrinsic
def sched_yield(typingctx):
    def codegen(context, builder, signature, args):
        return builder.call(_libc(builder, "sched_yield", ir.IntType(32), []), [])
    return types.int32(), codegen


@intrinsic
def futex_wait(typingctx, a, i, expected, timeout):
    """Sleep while the low 32 bits of a[i] equal `expected`, at most `timeout` (a timespec:
    an int64 array [seconds, nanoseconds]); Linux only (HAS_FUTEX)."""
    if not (_int64_array(a) and _int64_array(timeout)):
        return None

    def codegen(context, builder, signature, args):
        i64, i32 = ir.IntType(64), ir.IntType(32)
        address = builder.ptrtoint(_pointer(context, builder, signature.args[0], args[0],
                                            args[1]), i64)
        ts = builder.ptrtoint(_pointer(context, builder, signature.args[3], args[3],
                                       ir.Constant(i64, 0)), i64)
        return builder.call(_libc(builder, "syscall", i64, [i64], var_arg=True), [
            ir.Constant(i64, _SYS_FUTEX or 0), address, ir.Constant(i32, _FUTEX_WAIT_PRIVATE),
            builder.trunc(args[2], i32), ts, ir.Constant(i64, 0), ir.Constant(i32, 0)])
    return types.int64(a, types.intp, types.int64, timeout), codegen


@intrinsic
def futex_wake(typingctx, a, i):
    """Wake every thread sleeping in futex_wait on a[i]; Linux only (HAS_FUTEX)."""
    if not _int64_array(a):
        return None

    def codegen(context, builder, signature, args):
        i64, i32 = ir.IntType(64), ir.IntType(32)
        address = builder.ptrtoint(_pointer(context, builder, signature.args[0], *args), i64)
        return builder.call(_libc(builder, "syscall", i64, [i64], var_arg=True), [
            ir.Constant(i64, _SYS_FUTEX or 0), address, ir.Constant(i32, _FUTEX_WAKE_PRIVATE),
            ir.Constant(i32, 1 << 30), ir.Constant(i64, 0), ir.Constant(i64, 0),
            ir.Constant(i32, 0)])
    return types.int64(a, types.intp), codegen
