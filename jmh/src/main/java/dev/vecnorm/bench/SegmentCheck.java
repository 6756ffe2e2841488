package dev.vecnorm.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.function.BiFunction;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Native segment vs {@code float[]} in one JVM, outside JMH, for two questions JMH answers poorly on a
 * shared machine:
 * <ul>
 *   <li>{@code ratio SHAPE...}: steady-state segment/array time per shape and operation, from rounds
 *       that alternate the two (order flipped each round) so both see the same noise; the figure is the
 *       median of the per-round ratios.</li>
 *   <li>{@code loops FLOATS}: why the kernels are not written on segments: one plain Vector API loop
 *       {@code y = (x - m) * a + b} over a 64-byte aligned native segment vs over a {@code float[]},
 *       first while the loop has only seen native segments, then after it has also run on a heap
 *       segment (as a library kernel would, called with both).</li>
 *   <li>{@code arenas SHAPE confined,shared,global}: native training forward on {@code Arena.ofAuto} segments,
 *       then after 20000 calls on each other arena kind (median of 2000 calls each, wall time): how much
 *       the JDK's JVM-wide profile of the segment's session class moves the native kernels.</li>
 *   <li>{@code warmup SHAPE OP segment|array}: in a fresh JVM (after {@code BatchNorm.warmUp(shape)} with
 *       {@code -Dwarm=true}; {@code -DwarmTrace=true} prints why it ended), each of the first 50 calls timed alone,
 *       then the steady state; prints calls 1, 2, 3, 5, 10, 20, 30, 40, 50, the worst of calls 41–50, the median
 *       of calls 2–50 and the steady state's own 90th percentile (of 51 calls), all relative to the
 *       steady-state median. Diagnostics of one JVM's speed (README, "Warm-up", twelfth session): {@code -Dalign=true}
 *       (where the tensors start in a cache line, before call 1 and in the steady state), {@code -Dprobe=true} (the
 *       same calls through other call paths, stack depths and tensor addresses) and {@code -Dtimeline=MS} (blocks
 *       of 100 calls over time, next to a plain vector loop and the training forward, with the CPU).</li>
 * </ul>
 * Run: {@code java --add-modules jdk.incubator.vector -Xms4g -Xmx4g -cp jmh/target/benchmarks.jar
 * dev.vecnorm.bench.SegmentCheck ratio NC:256x1024 NCHW:7x13x13x17}.
 */
public final class SegmentCheck {
  private SegmentCheck() {}

  /** Thread CPU time, not wall time: on a shared, oversubscribed machine it leaves out the time other processes run. */
  private static final java.lang.management.ThreadMXBean CPU = java.lang.management.ManagementFactory.getThreadMXBean();

  private static long now() {
    return CPU.getCurrentThreadCpuTime();
  }

  private static final boolean STAMPS = Boolean.getBoolean("stamps");

  private static final List<String> OPS = List.of(System.getProperty("ops", "trainingForward,inferenceForward,backward").split(","));

  static BiFunction<Ops, Workload, Object> op(String name) {
    return switch (name) {
      case "trainingForward" -> Ops::trainingForward;
      case "inferenceForward" -> Ops::inferenceForward;
      case "backward" -> Ops::backward;
      case "statistics" -> Ops::statistics;
      default -> throw new IllegalArgumentException("op must be one of " + OPS + " or statistics, got " + name);
    };
  }

  public static void main(String[] args) {
    if (args.length >= 2 && args[0].equals("ratio")) {
      System.out.println("| shape | operation | array µs | segment µs | segment/array (median of rounds) |");
      System.out.println("| --- | --- | ---: | ---: | ---: |");
      for (int i = 1; i < args.length; i++) for (String op : OPS) ratio(args[i], op);
    } else if (args.length == 2 && args[0].equals("loops")) {
      loops(Integer.parseInt(args[1]));
    } else if (args.length == 4 && args[0].equals("warmup")) {
      warmup(args[1], args[2], args[3].equals("segment"));
    } else if (args.length == 3 && args[0].equals("arenas")) {
      arenas(args[1], args[2].split(","));
    } else {
      System.err.println("usage: SegmentCheck ratio SHAPE... | loops FLOATS | warmup SHAPE OP segment|array | arenas SHAPE KIND,...");
      System.exit(2);
    }
  }

  private static void ratio(String shape, String opName) {
    Workload w = new Workload(shape);
    Ops array = new LibraryOps(), segment = new SegmentOps(true);
    BiFunction<Ops, Workload, Object> op = op(opName);
    array.trainingForward(w); // statistics for inference and backward come from a real forward
    segment.trainingForward(w);
    double pair = warmUp(() -> op.apply(array, w), () -> op.apply(segment, w), 1_500_000_000L);
    int batch = batch(pair, 10_000_000L); // ~10 ms of both sides per round
    int rounds = 21;
    double[] a = new double[rounds], s = new double[rounds], r = new double[rounds];
    long start = System.nanoTime(); // CLOCK_MONOTONIC: `perf record -k CLOCK_MONOTONIC` samples can be cut to this cell (-Dstamps=true)
    for (int k = 0; k < rounds; k++) {
      boolean arrayFirst = (k & 1) == 0;
      double t1 = time(arrayFirst ? array : segment, w, op, batch), t2 = time(arrayFirst ? segment : array, w, op, batch);
      a[k] = arrayFirst ? t1 : t2;
      s[k] = arrayFirst ? t2 : t1;
      r[k] = s[k] / a[k];
    }
    if (STAMPS) System.out.printf(Locale.ROOT, "# rounds of %s %s: %.6f to %.6f s (System.nanoTime)%n", shape, opName, start / 1e9, System.nanoTime() / 1e9);
    System.out.printf(Locale.ROOT, "| %s | %s | %.1f | %.1f | %.3f |%n", shape, opName, median(a), median(s), median(r));
  }

  /**
   * Runs {@code a} then {@code b} until their time per call has settled; returns the CPU nanoseconds of one pair.
   * At least {@code minNanos} of CPU time and {@link #WARM_PAIRS} pairs, then until two consecutive ~100 ms windows
   * agree within 10% (30 s at most). A fixed time was not enough: an operation first run after three others in the
   * same JVM ({@code ratio NC:256x1024} with the four default operations: backward after statistics, training and
   * inference forward) ran its first ~1.3 s at 30-70 ms a call, interpreted and in C1 while C2 compiled, so 1.5 s
   * left ~40 calls and timed rounds of one call each from the end of that phase: 283-427 µs against 92-99 µs
   * compiled, on both sides (nineteenth session). Interpreted calls are far too slow to reach 200 pairs, so the count
   * is what makes the warm-up outlast that phase.
   */
  static double warmUp(Runnable a, Runnable b, long minNanos) {
    long start = now();
    int pairs = 0;
    double previous = Double.NaN;
    while (true) {
      long w0 = now();
      int n = 0;
      do {
        a.run();
        b.run();
        n++;
      } while (now() - w0 < 100_000_000L);
      double pair = (double) (now() - w0) / n;
      pairs += n;
      long spent = now() - start;
      boolean settled = pair <= 1.1 * previous && previous <= 1.1 * pair;
      if (spent >= minNanos && pairs >= WARM_PAIRS && settled || spent >= 30_000_000_000L) return pair;
      previous = pair;
    }
  }

  /** Pairs of calls {@link #warmUp} runs at least. */
  static final int WARM_PAIRS = 200;

  /** Calls per timed batch of one side, for batches of both sides of about {@code nanos} given one pair's time. */
  static int batch(double pairNanos, long nanos) {
    return (int) Math.max(1, Math.round(nanos / pairNanos));
  }

  private static double time(Ops ops, Workload w, BiFunction<Ops, Workload, Object> op, int batch) {
    long t0 = now();
    for (int i = 0; i < batch; i++) op.apply(ops, w);
    return (now() - t0) / 1e3 / batch;
  }

  private static void arenas(String shape, String[] kinds) {
    Workload w = new Workload(shape);
    MemorySegment[] auto = arenaPair(Arena.ofAuto(), w);
    arenaTime(w, auto, 20000);
    System.out.printf(Locale.ROOT, "%s: ofAuto only %.1f us%n", shape, arenaTime(w, auto, 2000));
    for (String k : kinds) {
      Arena arena = switch (k) {
        case "confined" -> Arena.ofConfined();
        case "shared" -> Arena.ofShared();
        case "global" -> Arena.global();
        default -> throw new IllegalArgumentException("arena kinds: confined, shared, global; got " + k);
      };
      MemorySegment[] other = arenaPair(arena, w);
      arenaTime(w, other, 20000);
      double t = arenaTime(w, other, 2000);
      System.out.printf(Locale.ROOT, "%s: then %s %.1f us; ofAuto again %.1f us%n", shape, k, t, arenaTime(w, auto, 2000));
    }
  }

  private static MemorySegment[] arenaPair(Arena arena, Workload w) {
    MemorySegment x = arena.allocate(4L * w.x.length, 64), y = arena.allocate(4L * w.x.length, 64);
    MemorySegment.copy(w.x, 0, x, ValueLayout.JAVA_FLOAT, 0, w.x.length);
    return new MemorySegment[] {x, y};
  }

  /** Median wall time of {@code calls} native training forwards. */
  private static double arenaTime(Workload w, MemorySegment[] p, int calls) {
    long[] t = new long[calls];
    for (int i = 0; i < calls; i++) {
      long t0 = System.nanoTime();
      dev.vecnorm.BatchNorm.forwardTraining(w.shape, p[0], 0, w.gamma, w.beta, Workload.EPSILON, p[1], 0, w.mean, w.variance, w.invStd);
      t[i] = System.nanoTime() - t0;
    }
    Arrays.sort(t);
    return t[calls / 2] / 1e3;
  }

  /** One call of {@code op}, timed alone (thread CPU time, ns): calls 1-50, the fresh tensors and the empty control share it. */
  private static long timed(BiFunction<Ops, Workload, Object> op, Ops ops, Workload w) {
    long t0 = now();
    op.apply(ops, w);
    return now() - t0;
  }

  /**
   * Binds {@code v} (segment rows: its native copies) and, for inference and backward, which need statistics,
   * runs one training forward on the same path: "call 0", never timed.
   */
  private static void prepare(Ops ops, Workload v, String opName) {
    if (ops instanceof SegmentOps so) so.bind(v);
    if (!opName.equals("trainingForward")) ops.trainingForward(v);
  }

  /** This thread's minor page faults so far ({@code /proc/thread-self/stat}, field 10); -1 where it cannot be read. */
  private static long minorFaults() {
    return threadStat(10);
  }

  /** Field {@code n} (1-based, as proc(5) numbers them, n >= 3) of {@code /proc/thread-self/stat}; -1 where it cannot be read. */
  private static long threadStat(int n) {
    try {
      String st = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/thread-self/stat"));
      String[] f = st.substring(st.lastIndexOf(')') + 2).split(" "); // fields from 3 (state) on
      return Long.parseLong(f[n - 3]);
    } catch (java.io.IOException | RuntimeException e) {
      return -1;
    }
  }

  /** The -Dvloop control's private buffers (4 KiB each: in L1), null without -Dvloop. */
  private static float[] vloopX, vloopY;

  /** ~20 µs of a plain vector loop over the private buffers. */
  private static void vloop() {
    for (int r = 0; r < 400; r++) loopArray(vloopX, vloopY, vloopX.length, 0.5f, 2f, 1f);
  }

  private static void warmup(String shape, String opName, boolean onSegment) {
    if (Boolean.getBoolean("vloop")) {
      vloopX = new float[1024];
      vloopY = new float[1024];
      Arrays.fill(vloopX, 1f);
      for (int i = 0; i < 200; i++) vloop(); // compiled (C2, OSR and standalone) long before call 1
    }
    Workload w = new Workload(shape);
    Ops ops = onSegment ? new SegmentOps(true) : new LibraryOps();
    BiFunction<Ops, Workload, Object> op = op(opName);
    if (!Boolean.parseBoolean(System.getProperty("affine", "true"))) {
      // -Daffine=false (float[] rows): calls 1-50 and the steady state pass gamma = beta = null (Keras scale=False,
      // center=False) and, in backward, no dGamma/dBeta: a caller whose arguments differ from the warm-up's.
      if (onSegment) throw new IllegalArgumentException("-Daffine=false is for float[] rows");
      op = switch (opName) {
        case "trainingForward" -> (o, v) -> {
          dev.vecnorm.BatchNorm.forwardTraining(v.shape, v.x, 0, null, null, Workload.EPSILON, v.y, 0, v.mean, v.variance, v.invStd);
          return v.y;
        };
        case "inferenceForward" -> (o, v) -> {
          dev.vecnorm.BatchNorm.forwardInference(v.shape, v.x, 0, null, null, v.movingMean, v.movingVariance, Workload.EPSILON, v.y, 0);
          return v.y;
        };
        case "backward" -> (o, v) -> {
          dev.vecnorm.BatchNorm.backward(v.shape, v.x, 0, v.dy, 0, null, v.mean, v.invStd, v.dx, 0, null, null);
          return v.dx;
        };
        default -> throw new IllegalArgumentException("-Daffine=false: trainingForward, inferenceForward or backward, got " + opName);
      };
    }
    if (Boolean.getBoolean("warmTrace")) {
      // -DwarmTrace=true: the warm-up's DEBUG line on stderr (why it ended, each operation's calls, the rounds of
      // branch calls), through java.util.logging, System.Logger's default backend.
      java.util.logging.Logger log = java.util.logging.Logger.getLogger("dev.vecnorm");
      java.util.logging.ConsoleHandler handler = new java.util.logging.ConsoleHandler();
      handler.setLevel(java.util.logging.Level.FINE);
      log.setLevel(java.util.logging.Level.FINE);
      log.addHandler(handler);
      warmTraceLogger = log; // held: the JDK keeps loggers only weakly
    }
    if (Boolean.getBoolean("warm")) { // -Dwarm=true: BatchNorm.warmUp on this shape first (wall time, printed to stderr)
      // Segments come from Arena.ofAuto (SegmentOps), so the warm-up's native tensors do too.
      // -DwarmBudget=MS (default 3000): a longer budget tells a warm-up cut short by the load from one that warms the wrong code.
      java.time.Duration spent = dev.vecnorm.BatchNorm.warmUp(w.shape, onSegment ? java.lang.foreign.Arena.ofAuto() : null,
          java.time.Duration.ofMillis(Long.getLong("warmBudget", 3000)));
      System.err.printf(Locale.ROOT, "warmUp(%s): %d ms%n", shape, spent.toMillis());
    }
    // The native copies of the tensors are the harness's, not the call's: made before call 1 (until
    // 2026-11-30 call 1 of a segment training forward included allocating and filling four tensors).
    prepare(ops, w, opName);
    if ("direct".equals(System.getProperty("prime")) && !onSegment) {
      // -Dprime=direct (float[] rows): a training forward on OTHER tensors (see -Dprime=true below), but BatchNorm called straight from here, not through the harness's
      // lambda and LibraryOps: the prime call is then the library's own first call after the warm-up, and call 1
      // still pays the harness's first run of its call path.
      Workload other = new Workload(shape);
      long t0 = now();
      dev.vecnorm.BatchNorm.forwardTraining(other.shape, other.x, 0, other.gamma, other.beta, Workload.EPSILON, other.y, 0, other.mean, other.variance, other.invStd);
      long t1 = now();
      System.out.printf(Locale.ROOT, "#### control direct training forward on other tensors: %.2f%n", (t1 - t0) / 1e3);
    } else if (Boolean.getBoolean("prime")) {
      // -Dprime=true: one call of the op on OTHER tensors of the same shape before call 1 (printed, µs): it runs
      // the harness's call path and the library's code for the first time after the warm-up, so that call 1
      // then pays only for the state of its own tensors (add -Dtouch=true to read those first).
      Workload other = new Workload(shape);
      prepare(ops, other, opName);
      double p = timed(op, ops, other) / 1e3;
      prepare(ops, w, opName);
      System.out.printf(Locale.ROOT, "#### control prime call on other tensors: %.2f%n", p);
    }
    if (Boolean.getBoolean("touch")) {
      // -Dtouch=true: read the tensors once before call 1 (no library call), so that call 1 does not pay for
      // caches the warm-up's own buffers evicted: it tells cold data from cold code in call 1's time.
      // Only the operation's own tensors: all four of NC 256x1024 are 4 MiB, twice this core's L2, and reading
      // dy and dx last evicted the x and y of a training forward (until 2026-11-30 it read all four).
      touched = opName.equals("backward") ? touch(w.x) + touch(w.dy) + touch(w.dx) : touch(w.x) + touch(w.y);
    }
    if (Boolean.getBoolean("touchOut")) {
      // -DtouchOut=true: WRITE the output tensors (y, dx) before call 1, as a caller's previous layer would have:
      // tells a first write to their lines/pages (read-for-ownership, page faults, TLB) from everything else.
      // (Native segments are written by the bind just above in any case.)
      Arrays.fill(w.y, 0.5f);
      Arrays.fill(w.dx, 0.5f);
    }
    // Controls for call 1 (each printed as "#### control ...", times in µs):
    // -Dempty=true: an empty BiFunction timed twice through the same timing method as call 1 (the harness's own
    // first call: resolving the call site, interpreter); -Dvloop=true: a plain Vector API loop (compiled by C2
    // before the warm-up) over a private in-cache buffer, ~20 µs, timed twice: a first run much slower than the
    // second is the CPU (AVX-512 unit / frequency waking up), not the library.
    if (Boolean.getBoolean("empty")) {
      BiFunction<Ops, Workload, Object> nop = (o, ww) -> null;
      long e1 = timed(nop, ops, w), e2 = timed(nop, ops, w);
      System.out.printf(Locale.ROOT, "#### control empty call: first %.2f, second %.2f%n", e1 / 1e3, e2 / 1e3);
    }
    if (vloopX != null) {
      long t0 = now();
      vloop();
      long t1 = now();
      vloop();
      long t2 = now();
      System.out.printf(Locale.ROOT, "#### control vector loop: first %.2f, second %.2f%n", (t1 - t0) / 1e3, (t2 - t1) / 1e3);
    }
    boolean faults = Boolean.getBoolean("faults"); // -Dfaults=true: this thread's minor page faults during calls 1, 2 and 3
    long[] minflt = new long[4];
    boolean marks = Boolean.getBoolean("marks"); // -Dmarks=true: delimit calls 1-50 in -XX:+PrintCompilation / -Xlog output
    if (marks) codelist("before call 1");
    if (marks) System.out.println("#### calls 1-50 begin");
    boolean align = Boolean.getBoolean("align"); // -Dalign=true: where x, dy, dx, y start in a 64-byte line, before call 1 and in the steady state
    if (align) System.out.println("#### offsets in a 64-byte line before call 1: " + lineOffsets(w));
    double[] first = new double[50];
    for (int i = 0; i < first.length; i++) {
      if (faults && i < 4) minflt[i] = minorFaults();
      first[i] = timed(op, ops, w) / 1e3;
    }
    if (faults) System.out.printf(Locale.ROOT, "#### minor page faults: call 1 %d, call 2 %d, call 3 %d%n",
        minflt[1] - minflt[0], minflt[2] - minflt[1], minflt[3] - minflt[2]);
    if (marks) {
      System.out.println("#### calls 1-50 end");
      StringBuilder all = new StringBuilder("#### call µs:");
      for (double t : first) all.append(String.format(Locale.ROOT, " %.1f", t));
      System.out.println(all);
    }
    long until = now() + 2_000_000_000L;
    while (now() < until) op.apply(ops, w);
    double[] steady = new double[51];
    for (int i = 0; i < steady.length; i++) {
      long t0 = now();
      op.apply(ops, w);
      steady[i] = (now() - t0) / 1e3;
    }
    double base = median(steady);
    if (marks) codelist("steady state");
    if (align) System.out.println("#### offsets in a 64-byte line in the steady state: " + lineOffsets(w));
    if (Boolean.getBoolean("probe")) probe(op, ops, w, shape, opName);
    if (Long.getLong("timeline", 0) > 0) timeline(op, ops, w, Long.getLong("timeline", 0));
    if (Boolean.getBoolean("fresh")) {
      // -Dfresh=true: first call IN THE PROCESS or first call ON THESE BUFFERS? New tensors of the same shape
      // (filled by the constructor, outputs zeroed), bound and given their call 0 as above, then their calls
      // 1-3 timed, and one more call on the old tensors: all relative to the steady state.
      Workload fresh = new Workload(shape);
      prepare(ops, fresh, opName);
      long m0 = faults ? minorFaults() : 0;
      double f1 = timed(op, ops, fresh) / 1e3;
      long m1 = faults ? minorFaults() : 0;
      double f2 = timed(op, ops, fresh) / 1e3, f3 = timed(op, ops, fresh) / 1e3;
      if (ops instanceof SegmentOps so) so.bind(w);
      double old = timed(op, ops, w) / 1e3;
      System.out.printf(Locale.ROOT, "#### fresh tensors: call 1 %.2f, call 2 %.2f, call 3 %.2f; old tensors again %.2f (x steady)%s%n",
          f1 / base, f2 / base, f3 / base, old / base, faults ? "; minor page faults in fresh call 1: " + (m1 - m0) : "");
    }
    List<String> cells = new ArrayList<>();
    for (int i : new int[] {1, 2, 3, 5, 10, 20, 30, 40, 50}) cells.add(String.format(Locale.ROOT, "%.2f", first[i - 1] / base));
    double worstLate = Arrays.stream(first, 40, 50).max().orElseThrow() / base;
    // The noise floor on a shared machine: calls 2-50 against the steady state's own spread (its 90th
    // percentile of 51 single calls), and their median, which one preempted call does not move.
    double[] sorted = steady.clone();
    Arrays.sort(sorted);
    double steadyP90 = sorted[(int) (0.9 * (sorted.length - 1))] / base;
    double median2to50 = median(Arrays.copyOfRange(first, 1, 50)) / base;
    System.out.printf(Locale.ROOT, "| %s | %s | %s | %.1f | %s | %.2f | %.2f | %.2f |%n", shape, opName, onSegment ? "segment" : "array", base,
        String.join(" ", cells), worstLate, median2to50, steadyP90);
  }

  /** The logger -DwarmTrace configures, held so that its level is not collected with it. */
  private static java.util.logging.Logger warmTraceLogger;

  /**
   * -Dprobe=true (float[] rows), after the steady state: what makes one JVM's calls slower than another's with the
   * same compiled code. (1) The same tensors through the path of calls 1-50 ({@link #timed}) and the steady state's
   * (inline), alternating; (2) through 0-7 extra compiled frames (the stack pointer at the library's entry); (3) new
   * tensors of the shape (other addresses, so other distances between x, dy and dx modulo 4 KiB). Medians of 201
   * calls each, µs.
   */
  private static void probe(BiFunction<Ops, Workload, Object> op, Ops ops, Workload w, String shape, String opName) {
    if (ops instanceof SegmentOps) { // its new tensors would need their own native copies bound, and w's again after
      System.out.println("#### probe: float[] rows only");
      return;
    }
    int n = 201;
    double[] a = new double[n], b = new double[n];
    for (int r = 0; r < n; r++) {
      a[r] = timed(op, ops, w) / 1e3;
      long t0 = now();
      op.apply(ops, w);
      b[r] = (now() - t0) / 1e3;
    }
    System.out.printf(Locale.ROOT, "#### probe path: timed() %.2f, inline %.2f%n", median(a), median(b));
    StringBuilder depth = new StringBuilder("#### probe extra frames 0-7:");
    for (int rep = 0; rep < 2; rep++) {
      for (int k = 0; k < 8; k++) {
        for (int r = 0; r < n; r++) a[r] = deep(k, op, ops, w) / 1e3;
        depth.append(String.format(Locale.ROOT, " %.2f", median(a)));
      }
      depth.append(" |");
    }
    System.out.println(depth);
    for (int t = 0; t < 6; t++) {
      Workload v = new Workload(shape);
      prepare(ops, v, opName);
      for (int r = 0; r < n; r++) a[r] = timed(op, ops, v) / 1e3;
      for (int r = 0; r < n; r++) b[r] = timed(op, ops, w) / 1e3;
      long x = address(v.x), dy = address(v.dy), dx = address(v.dx);
      System.out.printf(Locale.ROOT, "#### probe new tensors %d: %.2f (old tensors %.2f); x, dy, dx mod 4096 = %d %d %d, mod 64 = %d %d %d%n", t,
          median(a), median(b), x % 4096, dy % 4096, dx % 4096, x % 64, dy % 64, dx % 64);
    }
    long x = address(w.x), dy = address(w.dy), dx = address(w.dx);
    System.out.printf(Locale.ROOT, "#### probe old tensors: x, dy, dx mod 4096 = %d %d %d%n", x % 4096, dy % 4096, dx % 4096);
  }

  /**
   * -Dtimeline=MS: after the steady state, blocks of 100 calls for MS milliseconds, each block's median (µs) with its
   * start in ms of JVM uptime (the clock of -XX:+PrintCompilation): whether one JVM's speed changes over time with
   * the same compiled code.
   */
  private static void timeline(BiFunction<Ops, Workload, Object> op, Ops ops, Workload w, long ms) {
    long upStart = java.lang.management.ManagementFactory.getRuntimeMXBean().getUptime(), t0 = System.nanoTime();
    double[] a = new double[100], c = new double[100];
    float[] sink = new float[w.x.length];
    for (int r = 0; r < 20_000; r++) control(w, sink); // in C2 code before the first block
    StringBuilder out = new StringBuilder("#### timeline (uptime ms: block median µs, control µs, training forward µs, cpu):");
    while (System.nanoTime() - t0 < ms * 1_000_000L) {
      long at = upStart + (System.nanoTime() - t0) / 1_000_000L;
      int cpu = cpu();
      for (int r = 0; r < a.length; r++) a[r] = timed(op, ops, w) / 1e3;
      for (int r = 0; r < c.length; r++) {
        long s0 = now();
        control(w, sink);
        c[r] = (now() - s0) / 1e3;
      }
      double control = median(c);
      for (int r = 0; r < c.length; r++) {
        long s0 = now();
        ops.trainingForward(w);
        c[r] = (now() - s0) / 1e3;
      }
      out.append(String.format(Locale.ROOT, " %d:%.1f:%.2f:%.2f@%d", at, median(a), control, median(c), cpu));
    }
    System.out.println(out);
  }

  /** The control of -Dtimeline: a plain vector loop reading x and dy and writing a private array of their size (the backward's traffic). */
  private static void control(Workload w, float[] sink) {
    loopArray(w.x, sink, sink.length, 0.5f, 2f, 1f);
    loopArray(w.dy, sink, sink.length, 0.5f, 2f, 1f);
  }

  /** The CPU this thread last ran on ({@code /proc/thread-self/stat}, field 39), -1 where it cannot be read. */
  private static int cpu() {
    return (int) threadStat(39);
  }

  /** One call of op, timed, {@code k} compiled frames below here. */
  private static long deep(int k, BiFunction<Ops, Workload, Object> op, Ops ops, Workload w) {
    if (k > 0) return deep(k - 1, op, ops, w);
    return timed(op, ops, w);
  }

  /** Address of element 0 of {@code a} (32-bit unscaled compressed oops, see {@link #lineOffsets}), -1 when unknown. */
  private static long address(float[] a) {
    try {
      java.lang.reflect.Field f = sun.misc.Unsafe.class.getDeclaredField("theUnsafe");
      f.setAccessible(true);
      sun.misc.Unsafe u = (sun.misc.Unsafe) f.get(null);
      Object[] holder = {a};
      // The reference is the address only with 32-bit (unscaled) compressed oops: 4-byte slots and a heap below 4 GiB.
      if (u.arrayIndexScale(Object[].class) != 4 || Runtime.getRuntime().maxMemory() >= (3L << 30)) return -1;
      return Integer.toUnsignedLong(u.getInt(holder, (long) u.arrayBaseOffset(Object[].class))) + u.arrayBaseOffset(float[].class);
    } catch (ReflectiveOperationException | RuntimeException e) {
      return -1;
    }
  }

  /**
   * -Dalign=true: the byte offset of element 0 of x, dy, dx and y within a 64-byte cache line (one AVX-512 vector),
   * through sun.misc.Unsafe: the reference read from an Object[] is the address itself with 32-bit (unscaled)
   * compressed oops, which -Xms2g -Xmx2g gets here (-Xlog:gc+init says so); "?" otherwise. A garbage collection
   * moves arrays and so can change these between call 1 and the steady state.
   */
  private static String lineOffsets(Workload w) {
    StringBuilder out = new StringBuilder("x dy dx y =");
    for (float[] a : new float[][] {w.x, w.dy, w.dx, w.y}) {
      long address = address(a);
      out.append(' ').append(address < 0 ? "?" : Long.toString(address % 64));
    }
    return out.toString();
  }

  /** Sink for {@link #touch}, so that the JIT keeps the reads. */
  static float touched;

  private static float touch(float[] a) {
    float sum = 0;
    for (int i = 0; i < a.length; i += 16) sum += a[i]; // one float per 64-byte line
    return sum;
  }

  /**
   * With {@code -Dmarks=true}: the library's compiled methods as {@code jcmd PID Compiler.codelist} lists them (id,
   * tier, state, name), so that a method still in C1 code when call 1 starts shows next to its tier in the steady state.
   */
  private static void codelist(String when) {
    try {
      var server = java.lang.management.ManagementFactory.getPlatformMBeanServer();
      var name = new javax.management.ObjectName("com.sun.management:type=DiagnosticCommand");
      String text = (String) server.invoke(name, "compilerCodelist", new Object[] {null}, new String[] {String[].class.getName()});
      StringBuilder out = new StringBuilder("#### codelist, " + when + ":\n");
      for (String line : text.split("\n")) if (line.contains("dev.vecnorm.") && !line.contains(".bench.")) out.append("####   ").append(line).append('\n');
      System.out.print(out);
    } catch (javax.management.JMException e) {
      System.out.println("#### codelist unavailable: " + e);
    }
  }

  private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;

  private static void loopArray(float[] x, float[] y, int n, float m, float a, float b) {
    int i = 0;
    for (int upperBound = SPECIES.loopBound(n); i < upperBound; i += SPECIES.length()) {
      FloatVector.fromArray(SPECIES, x, i).sub(m).fma(a, b).intoArray(y, i);
    }
    for (; i < n; i++) y[i] = (x[i] - m) * a + b; // scalar tail
  }

  private static void loopSegment(MemorySegment x, MemorySegment y, long n, float m, float a, float b) {
    long i = 0;
    for (long upperBound = SPECIES.loopBound(n); i < upperBound; i += SPECIES.length()) {
      FloatVector.fromMemorySegment(SPECIES, x, 4 * i, ByteOrder.LITTLE_ENDIAN).sub(m).fma(a, b)
          .intoMemorySegment(y, 4 * i, ByteOrder.LITTLE_ENDIAN);
    }
    for (; i < n; i++) { // scalar tail
      y.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, (x.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i) - m) * a + b);
    }
  }

  private static void loops(int n) {
    float[] x = new float[n], y = new float[n];
    MemorySegment xs = Arena.global().allocate(4L * n, 64), ys = Arena.global().allocate(4L * n, 64);
    int reps = Math.max(1, 100_000_000 / n);
    for (int phase = 0; phase < 2; phase++) {
      if (phase == 1) {
        for (int i = 0; i < reps; i++) loopSegment(MemorySegment.ofArray(x), MemorySegment.ofArray(y), n, 0.5f, 2f, 1f);
      }
      double[] ratios = new double[15];
      for (int r = 0; r < ratios.length; r++) {
        long t0 = now();
        for (int i = 0; i < reps; i++) loopArray(x, y, n, 0.5f, 2f, 1f);
        long t1 = now();
        for (int i = 0; i < reps; i++) loopSegment(xs, ys, n, 0.5f, 2f, 1f);
        ratios[r] = (double) (now() - t1) / (t1 - t0);
      }
      System.out.printf(Locale.ROOT, "%d floats, %s: native segment loop / float[] loop = %.2f (median of %d rounds; the first rounds include JIT)%n",
          n, phase == 0 ? "loop has seen native segments only" : "after one heap-segment run", median(ratios), ratios.length);
    }
  }

  private static double median(double[] v) {
    double[] c = v.clone();
    Arrays.sort(c);
    return c[c.length / 2];
  }
}
