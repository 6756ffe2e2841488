package dev.vecnorm.bench;

import dev.vecnorm.io.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * {@code ab BASE.jar CAND.jar [--rounds N] [--budget 5m] [--out DIR] [--threshold 10%] [--alpha 0.01] [--estimator samples|fork-min] [--cand-jvm-arg ARG]... [JMH ARGS...]}:
 * the A/B mode for CI. Runs the two benchmark jars one fork at a time, per benchmark and parameter
 * combination, base and candidate back to back in alternating order (A B, B A, ... over rounds and
 * benchmarks), so that drift of a shared machine (other jobs, thermal, page cache) lands on both sides
 * alike, merges each side's forks into {@code DIR/base.json} and {@code DIR/cand.json}
 * (JMH JSON, environment annotated) and runs {@link Compare} on them: the Markdown table on stdout,
 * and Compare's exit status (0 pass, 1 regression, 3 inconclusive, 2 error).
 *
 * <p>A {@code -f N} among the JMH arguments sets the number of rounds (forks per side) unless
 * {@code --rounds} or {@code --budget} is given. {@code --budget DURATION} (e.g. {@code 300s}, {@code 5m}) instead runs rounds while the
 * next one, at the mean duration of those so far, still ends within the budget: at least {@value #MIN_ROUNDS} rounds (the
 * fork-level test needs 3 forks a side), at most {@code --rounds} when both are given. Forks are what decide on a noisy
 * machine, so a CI job should give the gate a time budget rather than a fork count. The stopping rule looks at the
 * clock only, never at the results, so it does not inflate the false-alarm rate. Each jar's JMH log goes to {@code DIR/<side>-<round>.log}; progress to stderr.
 * Arguments after {@code --defaults} (jmh/bench passes the quick preset there) are used only when no
 * JMH argument came before it. {@code --cand-jvm-arg} adds a JVM argument to the candidate's forks only (e.g. a system property).
 */
public final class AbRun {
  private AbRun() {}

  static final int MIN_ROUNDS = 3;

  public static void main(String[] args) throws IOException, InterruptedException {
    System.exit(run(args));
  }

  static int run(String[] args) throws IOException, InterruptedException {
    Options o;
    try {
      o = Options.parse(args);
    } catch (IllegalArgumentException e) {
      System.err.println("ab: " + e.getMessage());
      return Compare.EXIT_USAGE;
    }
    Files.createDirectories(o.out);
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Split split = Split.of(o.jmhArgs);
    try {
      split.paramCombinations();
    } catch (IllegalArgumentException e) {
      System.err.println("ab: " + e.getMessage());
      return Compare.EXIT_USAGE;
    }
    List<String> inBase = list(java, o.baseJar, split), inCand = list(java, o.candJar, split);
    List<String> names = new ArrayList<>(inBase);
    for (String n : inCand) if (!names.contains(n)) names.add(n);
    if (names.isEmpty()) {
      System.err.println("ab: no benchmark matches " + split.includes() + " in either jar");
      return Compare.EXIT_USAGE;
    }
    // The unit of interleaving is one benchmark with one parameter combination: its base and candidate forks run
    // back to back, seconds apart, so the load of a shared machine at that moment hits both.
    List<List<String>> units = new ArrayList<>();
    for (String name : names) for (List<String> params : split.paramCombinations()) {
      List<String> unit = new ArrayList<>(List.of("^" + name.replace(".", "\\.") + "$"));
      for (String kv : params) unit.addAll(List.of("-p", kv));
      units.add(unit);
    }
    List<Path> base = new ArrayList<>(), cand = new ArrayList<>();
    long start = System.nanoTime();
    int rounds = 0;
    for (int round = 1; round <= o.rounds; round++) {
      if (o.budgetSeconds > 0 && round > MIN_ROUNDS) {
        double spent = (System.nanoTime() - start) / 1e9, perRound = spent / (round - 1);
        if (spent + perRound > o.budgetSeconds) break;
      }
      rounds = round;
      long roundStart = System.nanoTime();
      for (int u = 0; u < units.size(); u++) {
        String name = names.get(u / split.paramCombinations().size());
        boolean baseFirst = (round + u) % 2 == 1; // ABBA over rounds, alternating between units too
        for (int k = 0; k < 2; k++) {
          boolean isBase = (k == 0) == baseFirst;
          if (!(isBase ? inBase : inCand).contains(name)) continue; // compare reports it as only on one side
          String side = isBase ? "base" : "cand", id = side + "-" + round + "-" + (u + 1);
          Path json = o.out.resolve(id + ".json"), log = o.out.resolve(id + ".log");
          List<String> cmd = new ArrayList<>(List.of(java, "-jar", (isBase ? o.baseJar : o.candJar).toString()));
          cmd.addAll(units.get(u));
          cmd.addAll(split.options());
          if (!isBase && !o.candJvmArgs.isEmpty()) cmd.addAll(List.of("-jvmArgsPrepend", String.join(" ", o.candJvmArgs)));
          cmd.addAll(List.of("-f", "1", "-rf", "json", "-rff", json.toString()));
          Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
          int rc = p.waitFor();
          if (rc != 0 || !Files.exists(json)) {
            System.err.println("ab: " + id + " failed (exit " + rc + "): " + String.join(" ", cmd));
            List<String> lines = Files.readAllLines(log);
            lines.subList(Math.max(0, lines.size() - 15), lines.size()).forEach(l -> System.err.println("  " + l));
            return Compare.EXIT_USAGE;
          }
          (isBase ? base : cand).add(json);
        }
      }
      System.err.printf(Locale.ROOT, "ab: round %d%s: %d benchmarks x 2 sides in %.0f s%n", round,
          o.budgetSeconds > 0 ? String.format(Locale.ROOT, " (budget %.0f s)", o.budgetSeconds) : "/" + o.rounds, units.size(),
          (System.nanoTime() - roundStart) / 1e9);
    }
    System.err.printf(Locale.ROOT, "ab: %d rounds in %.0f s; results in %s%n", rounds, (System.nanoTime() - start) / 1e9, o.out);
    Path baseJson = o.out.resolve("base.json"), candJson = o.out.resolve("cand.json");
    write(baseJson, Results.merge(base));
    write(candJson, Results.merge(cand));
    List<String> cargs = new ArrayList<>(List.of(baseJson.toString(), candJson.toString()));
    cargs.addAll(o.compareArgs);
    return Compare.run(cargs.toArray(String[]::new), System.out, System.err);
  }

  /** Benchmark names a jar's JMH selects for the include patterns ({@code -l}). */
  private static List<String> list(String java, Path jar, Split split) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of(java, "-jar", jar.toString(), "-l"));
    cmd.addAll(split.includes());
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    List<String> out = new ArrayList<>(), names = new ArrayList<>();
    try (var r = p.inputReader()) {
      r.lines().forEach(out::add);
    }
    p.waitFor();
    boolean listing = false;
    for (String line : out) {
      if (line.startsWith("Benchmarks:")) listing = true;
      else if (listing && !line.isBlank() && !line.startsWith(" ")) names.add(line.trim());
    }
    return names;
  }

  /**
   * JMH arguments split into include patterns (positional), {@code -p name=v1,v2} parameters and the other
   * options (with their values). JMH options all take one value except the listing and help flags.
   */
  record Split(List<String> includes, List<String> params, List<String> options) {
    static final List<String> FLAGS = List.of("-l", "-lp", "-lprof", "-lrf", "-h");

    static Split of(List<String> args) {
      List<String> includes = new ArrayList<>(), params = new ArrayList<>(), options = new ArrayList<>();
      for (int i = 0; i < args.size(); i++) {
        String a = args.get(i);
        if (a.equals("-p") && i + 1 < args.size()) {
          params.add(args.get(++i));
        } else if (a.startsWith("-") && !FLAGS.contains(a)) {
          options.add(a);
          if (i + 1 < args.size()) options.add(args.get(++i));
        } else if (a.startsWith("-")) {
          options.add(a);
        } else {
          includes.add(a);
        }
      }
      return new Split(includes, params, options);
    }

    /** Every combination of the -p values, each as a list of "name=value"; one empty combination without -p. */
    List<List<String>> paramCombinations() {
      List<List<String>> combos = new ArrayList<>(List.of(List.of()));
      for (String p : params) {
        int eq = p.indexOf('=');
        if (eq < 0) throw new IllegalArgumentException("-p needs name=value[,value...], got " + p);
        List<List<String>> next = new ArrayList<>();
        for (List<String> c : combos) for (String v : p.substring(eq + 1).split(",")) {
          List<String> n = new ArrayList<>(c);
          n.add(p.substring(0, eq + 1) + v);
          next.add(n);
        }
        combos = next;
      }
      return combos;
    }
  }

  private static void write(Path file, Object root) throws IOException {
    Files.writeString(file, Json.write(root) + "\n");
    Environment.main(new String[] {"--annotate", file.toString()});
  }

  record Options(Path baseJar, Path candJar, int rounds, double budgetSeconds, Path out, List<String> compareArgs, List<String> candJvmArgs, List<String> jmhArgs) {
    static Options parse(String[] args) {
      String usage = "usage: ab BASE.jar CAND.jar [--rounds N] [--budget 5m] [--out DIR] [--threshold 10%] [--alpha 0.01] [--estimator samples|fork-min] [--cand-jvm-arg ARG]... [JMH ARGS...]";
      if (args.length < 2) throw new IllegalArgumentException(usage);
      Path a = Path.of(args[0]), b = Path.of(args[1]);
      for (Path jar : List.of(a, b)) if (!Files.isRegularFile(jar)) throw new IllegalArgumentException("no such jar: " + jar + " (" + usage + ")");
      Integer rounds = null, forks = null;
      double budget = 0;
      Path out = Path.of("ab-results");
      List<String> compare = new ArrayList<>(), candJvm = new ArrayList<>(), jmh = new ArrayList<>();
      for (int i = 2; i < args.length; i++) {
        String s = args[i];
        if (s.equals("--defaults")) {
          if (!jmh.isEmpty()) break; // the user gave a selection: ignore the preset
          continue;
        }
        switch (s) {
          case "--rounds" -> rounds = positive(s, value(args, i++));
          case "--budget" -> budget = duration(s, value(args, i++));
          case "--out" -> out = Path.of(value(args, i++));
          case "--threshold", "--alpha", "--estimator" -> compare.addAll(List.of(s, value(args, i++)));
          case "--cand-jvm-arg" -> candJvm.add(value(args, i++));
          case "-f" -> forks = positive(s, value(args, i++));
          case "-rf", "-rff", "-o" -> throw new IllegalArgumentException(s + " is set by the A/B mode: use --out DIR");
          default -> {
            if (s.startsWith("-f") && s.length() > 2 && s.substring(2).chars().allMatch(Character::isDigit)) forks = positive("-f", s.substring(2));
            else if (s.startsWith("--threshold=") || s.startsWith("--alpha=") || s.startsWith("--estimator=")) compare.add(s);
            else jmh.add(s);
          }
        }
      }
      if (jmh.isEmpty()) throw new IllegalArgumentException("no JMH selection given (jmh/bench ab uses the quick preset's)");
      // A budget without --rounds runs as many rounds as fit; a budget never overrides an explicit --rounds.
      int n = rounds != null ? rounds : budget > 0 ? 1000 : forks != null ? forks : 2;
      return new Options(a, b, n, budget, out, compare, candJvm, jmh);
    }

    private static String value(String[] args, int i) {
      if (i + 1 >= args.length) throw new IllegalArgumentException(args[i] + " needs a value");
      return args[i + 1];
    }

    /** A duration such as 300, 300s, 5m or 1.5m, in seconds. */
    static double duration(String name, String v) {
      String t = v.trim();
      double unit = t.endsWith("m") ? 60 : 1;
      try {
        double d = Double.parseDouble(t.endsWith("m") || t.endsWith("s") ? t.substring(0, t.length() - 1) : t) * unit;
        if (!(d > 0) || Double.isInfinite(d)) throw new NumberFormatException();
        return d;
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(name + " needs a positive duration such as 300s or 5m, got " + v);
      }
    }

    private static int positive(String name, String v) {
      try {
        int n = Integer.parseInt(v);
        if (n < 1) throw new NumberFormatException();
        return n;
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(name + " needs a positive integer, got " + v);
      }
    }
  }
}
