package dev.vecnorm.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The A/B mode's options: rounds, time budget and the preset fallback (no benchmark is run here). */
class AbRunTest {

  @TempDir Path dir;

  private String[] args(String... rest) throws IOException {
    Path a = Files.writeString(dir.resolve("a.jar"), ""), b = Files.writeString(dir.resolve("b.jar"), "");
    String[] all = new String[rest.length + 2];
    all[0] = a.toString();
    all[1] = b.toString();
    System.arraycopy(rest, 0, all, 2, rest.length);
    return all;
  }

  @Test
  void durationsInSecondsOrMinutes() {
    assertEquals(300, AbRun.Options.duration("--budget", "300"), 0);
    assertEquals(300, AbRun.Options.duration("--budget", "300s"), 0);
    assertEquals(300, AbRun.Options.duration("--budget", "5m"), 0);
    assertEquals(90, AbRun.Options.duration("--budget", "1.5m"), 0);
    for (String bad : List.of("0", "-5m", "five", "m", "NaN", "Infinity")) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AbRun.Options.duration("--budget", bad));
      assertEquals("--budget needs a positive duration such as 300s or 5m, got " + bad, e.getMessage());
    }
  }

  @Test
  void budgetReplacesThePresetForkCountButNotExplicitRounds() throws IOException {
    AbRun.Options o = AbRun.Options.parse(args("--budget", "5m", "--defaults", "Vector", "-f", "4"));
    assertEquals(300, o.budgetSeconds(), 0);
    assertEquals(1000, o.rounds()); // bounded by the clock, not by -f
    assertEquals(List.of("Vector"), o.jmhArgs());

    o = AbRun.Options.parse(args("--budget", "5m", "--rounds", "6", "Vector"));
    assertEquals(6, o.rounds());
    assertEquals(300, o.budgetSeconds(), 0);

    o = AbRun.Options.parse(args("Vector", "-f", "4", "--defaults", "Scalar", "-f", "2"));
    assertEquals(0, o.budgetSeconds(), 0);
    assertEquals(4, o.rounds()); // the user's selection and fork count; the preset after --defaults is ignored
    assertEquals(List.of("Vector"), o.jmhArgs());
  }

  @Test
  void rejectsOptionsTheModeSetsItself() throws IOException {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AbRun.Options.parse(args("Vector", "-rff", "x.json")));
    assertEquals("-rff is set by the A/B mode: use --out DIR", e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> AbRun.Options.parse(args("--budget", "soon", "Vector")));
    assertEquals("--budget needs a positive duration such as 300s or 5m, got soon", e.getMessage());
  }
}
