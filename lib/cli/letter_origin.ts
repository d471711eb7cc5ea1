/**
 * The origin stage of `--replay-dead-letters`: each letter's record was published where its
 * `dlq.source.*` headers say, so it goes in under its original id and day, and a record that
 * fails again is dead-lettered again naming that same place. Messages that are no letter of the
 * bridge's, and letters the filter leaves out, are skipped and counted.
 *
 * @example
 * ```ts
 * const origin = new LetterOrigin({ sourceTopics: new Set(["pmacct"]) }, log);
 * origin.of("pmacct-dlq", 0, letter); // { topic: "pmacct", partition: 3, offset: "120", position: 0, timestampMs }
 * ```
 */
import { readLetterHeaders } from "../delivery/dead_letters.ts";
import type { SourceMessage } from "../delivery/pipeline.ts";
import type { OriginStage } from "../delivery/stages.ts";
import { type RecordOrigin, untimedTag } from "../pmacct/document.ts";
import type { Logger } from "../runtime/log.ts";

/** Which dead letters a replay sends through again; the other messages are skipped. */
export interface ReplayFilter {
  /** Letters of these source topics: one of another has no dead-letter topic to go back to. */
  sourceTopics: ReadonlySet<string>;
  /** Letters of this `dlq.reason` only, when set. */
  reason?: string;
}

export class LetterOrigin implements OriginStage {
  /** Source topics whose letters are skipped, each said once. */
  readonly #otherTopics = new Set<string>();
  #skipped = 0;

  constructor(private readonly filter: ReplayFilter, private readonly log: Logger) {}

  of(topic: string, partition: number, message: SourceMessage): RecordOrigin | null {
    const letter = readLetterHeaders(message.headers);
    if (typeof letter === "string") {
      this.log.warn("message skipped in a dead-letter topic", {
        problem: letter,
        topic,
        partition,
        offset: message.offset,
      });
    } else if (!this.filter.sourceTopics.has(letter.topic)) {
      if (!this.#otherTopics.has(letter.topic)) {
        this.#otherTopics.add(letter.topic);
        this.log.warn("letters of a source topic not replayed are skipped (KAFKA_TOPIC, or --source-topic)", {
          source_topic: letter.topic,
          topic,
        });
      }
    } else if ((this.filter.reason ?? letter.reason) === letter.reason) {
      const { topic, partition, offset, position } = letter;
      if (letter.timestampMs !== undefined) {
        return { topic, partition, offset, position, timestampMs: letter.timestampMs };
      }
      // A letter written before `dlq.source.timestamp`: filed by its own time, later than its
      // record's, under an id whose time is the digest of its record (two such letters of one
      // record get one id, two records at the same coordinates two).
      const untimed = untimedTag(message.value ?? new Uint8Array());
      return { topic, partition, offset, position, timestampMs: Number(message.timestamp), untimed };
    }
    this.#skipped++;
    return null;
  }

  /** Messages skipped: no dead letters, or left out by the filter. */
  get skipped(): number {
    return this.#skipped;
  }
}
