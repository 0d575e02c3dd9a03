/** What an image classifier said about one image. */
export interface Classification {
  /** Probability of each class. */
  scores: Record<string, number>;
  /** Summed probability of the unsafe classes. */
  unsafe: number;
  /** Whether the image is flagged (blurred and listed in nsfw_content_detected by the server). */
  flagged: boolean;
  /** The classes whose score reached their threshold (empty when not flagged). */
  flaggedClasses?: string[];
}
