/**
 * A chat language model that prompt enhancement and translation run on: a local GGUF file (local-model.ts) or
 * an OpenAI-compatible chat endpoint (chat-endpoint.ts). One system message and one user message in, the
 * assistant's text out.
 */
export interface ChatRequest {
  system: string;
  user: string;
  /** The most tokens the answer may have. */
  maxTokens: number;
  /** Aborts the request (a timeout, or the caller giving up). */
  signal?: AbortSignal;
  /** The whole request's time limit, in ms (also given as `signal`, for models that hold a connection). */
  timeoutMs?: number;
}

export interface PromptLanguageModel {
  /** What it is, for messages and logs: the GGUF file's name, or the endpoint's URL. */
  readonly description: string;
  complete(request: ChatRequest): Promise<string>;
  dispose(): Promise<void>;
}
