@failure-mode @scenario-clock-skew
Feature: Clock skew
  The PC's clock is 400 days behind; TLS to the Microsoft endpoints fails (80072f8f) before any sign-in.
  Guide section: AzureAdJoined : NO after setup

  Scenario: Clock skew: the symptom
    Given the scenario "clock-skew"
    When the user tries to join the PC as the scenario describes
    Then Settings shows the error code "80072f8f"
    When the user restarts the PC and signs in with the Entra account
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : NO"
    And the device is not joined
    And the device is not enrolled in Intune

  Scenario: Clock skew: the fix repairs it
    Given the scenario "clock-skew"
    When the user tries to join the PC as the scenario describes
    And the admin applies the scenario's fix
    And the user disconnects if needed and joins again
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : YES"
    And the output shows "AzureAdPrt : YES"
    And the device is joined
    And the device is enrolled in Intune
