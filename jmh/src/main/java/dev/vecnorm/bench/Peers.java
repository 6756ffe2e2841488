package dev.vecnorm.bench;

import dev.vecnorm.BatchNorm;
import dev.vecnorm.bench.PeersReport.Best;
import dev.vecnorm.bench.PeersReport.Case;
import dev.vecnorm.bench.PeersReport.Reply;
import dev.vecnorm.bench.PeersReport.Row;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * {@code jmh/bench peers}: vecnorm against oneDNN and PyTorch on the same tensors, in one run.
 *
 * <p>The oneDNN and PyTorch sides are worker processes ({@code jmh/peers/onednn_bn.cpp},
 * {@code jmh/peers/torch_bn.py}) that answer one line per request; vecnorm runs in this JVM. For each
 * shape, every worker allocates and fills the same tensors once (the same hash of the memory index).
 * Then, in each of {@code --rounds} rounds, every case (operation, out of place or in place, threads)
 * runs on the three sides back to back, in an order that rotates so that no side always goes first.
 * A side's time for a case is the median over batched calls after a warm-up, the same loop in all
 * three languages; its score is the best median over the rounds. Each side also returns a checksum of
 * its outputs after one call on fresh data; a side more than 1e-3 away from the float64 reference
 * ({@link VecnormSide#reference()}) computes something else, and is reported, not ranked.
 *
 * <p>{@code --norms} runs the rest of the normalization family instead of batch norm, through the same
 * workers, loop and table: layer norm and RMS norm over the rows of NC tensors, group norm on the
 * suite's NHWC and NCHW tensors ({@link NormsSide}).
 *
 * <pre>Peers --onednn BIN --torch PYTHON SCRIPT [--quick] [--norms] [--ln-native] [--bn-native] [--out PREFIX] [--rounds 3, quick 2] [--warm-ms 60]
 *       [--measure-ms 150] [--shapes S1,S2,...] [--threads 1,2] [--ops OP1,OP2,...]</pre>
 *
 * <p>{@code --ops} keeps only the cases of the named operations ({@code trainingForward}, {@code inferenceForward},
 * {@code backward}; with {@code --norms} names such as {@code layerNorm.trainingForward}), for a quick A/B of one op.
 */
public final class Peers {
  private Peers() {}

  /** The {@code @Param} shapes of {@link BatchNormBenchmark}. */
  static final List<String> SUITE = List.of(
      "NHWC:64x56x56x64", "NCHW:64x56x56x64", "NHWC:32x14x14x256", "NCHW:32x14x14x256",
      "NHWC:32x7x7x2048", "NCHW:32x7x7x2048", "NC:256x1024", "NC:8192x256", "NHWC:7x13x13x17", "NCHW:7x13x13x17");
  /** Shapes outside the suite: small C channels-last, a small dense layer, an ImageNet input batch. */
  static final List<String> OUTSIDE = List.of("NHWC:32x56x56x32", "NC:1000x100", "NCHW:8x3x224x224");
  static final List<String> QUICK = List.of("NC:256x1024", "NHWC:32x14x14x256", "NCHW:32x14x14x256");

  /** The cases of one shape: batch norm's, or with {@code norms} those of {@link NormsSide#cases}. */
  static List<Case> cases(String shape, int[] threads, boolean norms) {
    Workload.parse(shape);
    return norms ? NormsSide.cases(shape, threads) : cases(shape, threads);
  }

  /** The cases of one shape: forward out of place and in place (y = x), backward out of place. */
  static List<Case> cases(String shape, int[] threads) {
    List<Case> cases = new ArrayList<>();
    for (String op : List.of("trainingForward", "inferenceForward", "backward")) {
      for (boolean inPlace : op.equals("backward") ? new boolean[] {false} : new boolean[] {false, true}) {
        for (int t : threads) cases.add(new Case(shape, op, inPlace, t));
        if (VecnormSide.nativeRows) for (int t : threads) cases.add(new Case(shape, op + NormsSide.NATIVE, inPlace, t));
      }
    }
    return cases;
  }

  /** A peer behind the line protocol: {@code shape LABEL} then {@code run OP PLACE THREADS WARM_MS MEASURE_MS}. */
  static final class Worker implements AutoCloseable {
    final String name, version;
    private final Process process;
    private final PrintWriter in;
    private final BufferedReader out;

    Worker(String name, List<String> command) throws IOException {
      this.name = name;
      process = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
      in = new PrintWriter(process.getOutputStream(), true, StandardCharsets.UTF_8);
      out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
      String ready = out.readLine();
      if (ready == null || !ready.startsWith("ready ")) {
        throw new IOException(name + " worker did not start (" + String.join(" ", command) + "): " + ready);
      }
      version = ready.substring("ready ".length());
    }

    String request(String line) throws IOException {
      in.println(line);
      return out.readLine();
    }

    @Override
    public void close() {
      in.println("quit");
      in.close();
      process.destroy();
    }
  }

  public static void main(String[] args) throws Exception {
    Map<String, String> opt = new LinkedHashMap<>();
    List<String> torch = new ArrayList<>();
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--quick" -> opt.put("quick", "true");
        case "--norms" -> opt.put("norms", "true");
        case "--ln-native" -> NormsSide.nativeRows = true; // with --norms: layer-norm forward rows on aligned native segments
        case "--bn-native" -> VecnormSide.nativeRows = true; // batch norm: every case again on aligned native segments
        case "--torch" -> {
          torch.add(args[++i]);
          torch.add(args[++i]);
        }
        case "--onednn", "--out", "--rounds", "--warm-ms", "--measure-ms", "--shapes", "--threads", "--ops" -> opt.put(args[i].substring(2), args[++i]);
        default -> {
          System.err.println("peers: unknown argument " + args[i]);
          System.exit(2);
        }
      }
    }
    if (!opt.containsKey("onednn") || torch.isEmpty()) {
      System.err.println("usage: Peers --onednn BIN --torch PYTHON SCRIPT [--quick] [--norms] [--ln-native] [--bn-native] [--out PREFIX] [--rounds N] [--warm-ms MS] [--measure-ms MS] [--shapes A,B] [--threads 1,2] [--ops A,B]");
      System.exit(2);
    }
    boolean norms = opt.containsKey("norms");
    List<String> shapes = opt.containsKey("shapes") ? List.of(opt.get("shapes").split(","))
        : norms ? (opt.containsKey("quick") ? NormsSide.QUICK : NormsSide.SHAPES)
        : opt.containsKey("quick") ? QUICK : concat(SUITE, OUTSIDE);
    int[] threads = Arrays.stream(opt.getOrDefault("threads", "1,2").split(",")).mapToInt(Integer::parseInt).toArray();
    Set<String> ops = opt.containsKey("ops") ? Set.of(opt.get("ops").split(",")) : null;
    Set<String> known = new HashSet<>();
    for (String s : shapes) { // a bad label or operation fails here, not after minutes of measuring
      for (Case c : cases(s, threads, norms)) known.add(c.op());
    }
    if (ops != null && !known.containsAll(ops)) {
      System.err.println("peers: --ops must name operations of these shapes' cases " + known + ", got " + ops);
      System.exit(2);
    }
    int rounds = Integer.parseInt(opt.getOrDefault("rounds", opt.containsKey("quick") ? "2" : "3"));
    double warmMs = Double.parseDouble(opt.getOrDefault("warm-ms", "60"));
    double measureMs = Double.parseDouble(opt.getOrDefault("measure-ms", "150"));
    Path prefix = Path.of(opt.getOrDefault("out", "peers"));

    long started = System.nanoTime();
    List<Row> rows = new ArrayList<>();
    Map<String, Object> header = new LinkedHashMap<>();
    try (VecnormSide vecnorm = new VecnormSide();
         Worker onednn = new Worker(PeersReport.ONEDNN, List.of(opt.get("onednn")));
         Worker pytorch = new Worker(PeersReport.PYTORCH, torch)) {
      header.put("date", Instant.now().toString());
      header.put("command", "Peers " + String.join(" ", args));
      header.put("environment", Environment.describe());
      header.put("vecnorm", "vecnorm " + BatchNorm.implementationName() + " kernels");
      header.put("oneDNN", onednn.version);
      header.put("PyTorch", pytorch.version);
      header.put("settings", Map.of("rounds", (double) rounds, "warmMs", warmMs, "measureMs", measureMs,
          "timing", "median of per-call times over batches of >= 20 us after the warm-up; best median over rounds"));
      System.err.printf(Locale.ROOT, "peers: %d shapes, %d rounds; %s; %s; %s%n", shapes.size(), rounds,
          header.get("vecnorm"), onednn.version, pytorch.version);
      warmUp(vecnorm, threads, norms);
      int done = 0, total = 0;
      for (String shape : shapes) total += selected(shape, threads, norms, ops).size() * rounds;
      for (String shape : shapes) {
        vecnorm.shape(shape);
        // This shape's own batch-norm kernels compiled before its first timed call: the shared warm-up's
        // shapes do not reach every path (NCHW planes of 1024+ floats run a per-channel backward).
        if (!norms) dev.vecnorm.BatchNorm.warmUp(Workload.parse(shape), null, java.time.Duration.ofSeconds(2));
        else NormsSide.warmUp(shape); // the same for layer, RMS and group norm (their warmUp since the twenty-fourth session)
        for (Worker w : List.of(onednn, pytorch)) {
          String ok = w.request("shape " + shape);
          if (!"ok".equals(ok)) throw new IOException(w.name + " could not allocate " + shape + ": " + ok);
        }
        Map<String, Double> reference = norms ? vecnorm.normsReference() : vecnorm.reference();
        List<Case> cases = selected(shape, threads, norms, ops);
        Map<Case, Row> byCase = new LinkedHashMap<>();
        for (Case c : cases) byCase.put(c, new Row(c, reference.get(c.peerOp())));
        for (int round = 0; round < rounds; round++) {
          for (int k = 0; k < cases.size(); k++) {
            Case c = cases.get(k);
            Row row = byCase.get(c);
            StringBuilder progress = new StringBuilder();
            for (int j = 0; j < 3; j++) {
              String side = PeersReport.SIDES.get((round + k + j) % 3); // rotate who goes first
              Reply r = switch (side) {
                case PeersReport.VECNORM -> vecnorm.run(c, warmMs, measureMs);
                case PeersReport.ONEDNN -> Reply.parse(onednn.request(request(c, warmMs, measureMs)));
                default -> Reply.parse(pytorch.request(request(c, warmMs, measureMs)));
              };
              row.side(side).add(r);
              progress.append(String.format(Locale.ROOT, " %s %s", side, r.ok() ? String.format(Locale.ROOT, "%.1f µs", r.ns() / 1e3)
                  : r.unsupported() ? "n/a" : "error"));
            }
            System.err.printf(Locale.ROOT, "[%d/%d %.0f s] %s %s, %d thread(s), round %d:%s%n", ++done, total,
                (System.nanoTime() - started) / 1e9, shape, c.label(), c.threads(), round + 1, progress);
          }
        }
        rows.addAll(byCase.values());
      }
    }
    header.put("seconds", (System.nanoTime() - started) / 1e9);
    String table = PeersReport.render(rows);
    Path parent = prefix.toAbsolutePath().getParent();
    if (parent != null) Files.createDirectories(parent);
    Files.writeString(Path.of(prefix + ".json"), PeersReport.json(header, rows));
    Files.writeString(Path.of(prefix + ".csv"), PeersReport.csv(rows));
    Map<String, Object> env = Environment.describe();
    // The -XX flags of vecnorm's JVM (jmh/peers/run's PEERS_JVM_OPTS, e.g. huge pages) belong beside its numbers.
    List<String> xx = new ArrayList<>();
    for (String a : java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()) if (a.startsWith("-XX:")) xx.add(a);
    String md = String.format(Locale.ROOT, "Environment: %s, %.0f cores, %s, %.0f float lanes; %s on JDK %s (%s); %s; %s%n%n%s",
        env.get("cpu"), (Double) env.get("cores"), env.get("isa"), (Double) env.get("floatLanes"), header.get("vecnorm"), Runtime.version(),
        xx.isEmpty() ? "no -XX flags" : String.join(" ", xx), header.get("oneDNN"), header.get("PyTorch"), table);
    Files.writeString(Path.of(prefix + ".md"), md);
    System.out.print(md);
    System.out.printf(Locale.ROOT, "%nresults: %s.{md,json,csv} (%.0f s)%n", prefix, (System.nanoTime() - started) / 1e9);
  }

  /** The shape's cases ({@link #cases}), only those of {@code ops} when it is not null. */
  static List<Case> selected(String shape, int[] threads, boolean norms, Set<String> ops) {
    List<Case> all = cases(shape, threads, norms);
    if (ops == null) return all;
    List<Case> kept = new ArrayList<>();
    for (Case c : all) if (ops.contains(c.op()) || ops.contains(c.peerOp())) kept.add(c); // a native row with its op
    return kept;
  }

  static String request(Case c, double warmMs, double measureMs) {
    return String.format(Locale.ROOT, "run %s %s %d %.0f %.0f", c.peerOp(), c.inPlace() ? "in" : "out", c.threads(), warmMs, measureMs);
  }

  /** C2 compiles vecnorm's kernels before the first measurement, as the native peers need no JIT. */
  private static void warmUp(VecnormSide vecnorm, int[] threads, boolean norms) {
    List<String> shapes = norms ? List.of("NC:256x1024", "NC:64x17", "NHWC:32x14x14x256", "NCHW:32x14x14x256", "NHWC:7x13x13x17")
        : List.of("NC:256x1024", "NHWC:32x14x14x256", "NCHW:32x14x14x256", "NHWC:7x13x13x17");
    for (String shape : shapes) {
      vecnorm.shape(shape);
      for (Case c : cases(shape, threads, norms)) vecnorm.run(c, 60, 0);
    }
  }

  static List<String> concat(List<String> a, List<String> b) {
    List<String> all = new ArrayList<>(a);
    all.addAll(b);
    return all;
  }
}
