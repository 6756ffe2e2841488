package dev.vecnorm.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** JSON-lines history, merged A/B forks and trend charts. */
class HistoryTest {

  @TempDir Path dir;

  static final String B = "dev.vecnorm.bench.Vector.backward";

  @Test
  void appendsOneLinePerBenchmarkAndPlotsATrendPerBenchmark() throws IOException {
    System.setProperty("java.awt.headless", "true");
    Path h = dir.resolve("history.jsonl");
    for (int run = 0; run < 3; run++) {
      double[] s = {100 + run, 102 + run, 98 + run, 101 + run, 99 + run}; // median 100 + run, q1 99 + run, q3 101 + run
      List<Results.Result> rs = List.of(
          new Results.Result(B, Map.of("shape", "NC:256x1024"), "avgt", 0, 0, "ns/op", "25", "vm", Map.of(), s, 1),
          new Results.Result(B, Map.of("shape", "NC:8192x256"), "avgt", 0, 0, "ns/op", "25", "vm", Map.of(), s, 1));
      assertEquals(2, History.append(h, rs, "c0ffee" + run, Instant.parse("2026-01-0" + (run + 1) + "T00:00:00Z")));
    }
    List<String> lines = Files.readAllLines(h);
    assertEquals(6, lines.size());
    List<History.Point> ps = History.load(h);
    assertEquals(102.0, ps.get(4).median());
    assertEquals(101.0, ps.get(4).q1());
    assertEquals(103.0, ps.get(4).q3());
    assertEquals("c0ffee2", ps.get(4).label());

    List<Path> pngs = History.plot(ps, dir.resolve("trend"), 50);
    assertEquals(2, pngs.size());
    BufferedImage img = ImageIO.read(pngs.get(0).toFile());
    assertEquals(800, img.getWidth());
    assertTrue(pngs.get(0).getFileName().toString().startsWith("Vector.backward_shape=NC_256x1024"), pngs.toString());

    Files.writeString(h, "{not json\n", java.nio.file.StandardOpenOption.APPEND);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> History.load(h));
    assertTrue(e.getMessage().contains("line 7"), e.getMessage());
  }

  @Test
  void mergingSingleForkRunsKeepsEverySampleAndRecomputesTheScore() throws IOException {
    Path a = dir.resolve("a.json"), b = dir.resolve("b.json");
    Files.writeString(a, "[" + CompareTest.entry(B, "NC:256x1024", "avgt", "us/op", "25", new double[] {1, 2, 3}) + "]");
    Files.writeString(b, "[" + CompareTest.entry(B, "NC:256x1024", "avgt", "us/op", "25", new double[] {4, 5, 6}) + "]");
    Path merged = dir.resolve("m.json");
    Files.writeString(merged, dev.vecnorm.io.Json.write(Results.merge(List.of(a, b))));
    Results.Result r = Results.load(merged).get(0);
    assertEquals(2, r.forks());
    assertEquals(6, r.samples().length);
    assertEquals(3500.0, r.score(), 1e-9); // mean of 1..6 us, in ns
    // 99.9% half-width: t(0.9995, 5) = 6.8688 (tables) * sd 1.8708 / sqrt(6) = 5.2462 us.
    assertEquals(5246.2, r.error(), 1);
  }
}
